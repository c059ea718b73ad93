"""nufair vo: IVOA protocols (TAP, ADQL, ConeSearch, DataLink) over catalog storage.

The rooms, handler to storage:

* handlers: ``api`` (/tap sync, VOSI, /scs, /datalink), ``uws.api`` (/tap/async);
  ``openapi`` (what they answer), ``params`` (reading DALI parameters);
* wiring: ``context`` (the typed :class:`~vo.context.VoContext` the app factory builds),
  ``config``, ``errors`` (the VO error vocabulary), ``error_shape`` (errors on the VO
  paths as VOTable documents);
* rules: ``service`` (TAP queries), ``slots`` (admission of sync queries), ``scs``,
  ``datalink``, ``vosi``, ``upload`` (TAP_UPLOAD tables), ``tables`` (what is published),
  ``uws.service``/``uws.policy``/``uws.waits`` (jobs, their caps, blocking polls);
* storage: ``storage`` (read-only TAP, cone, DataLink), ``tapsession`` (the TAP
  transaction), ``resultstream`` (answers read in batches), ``datasets`` (DataLink reads),
  ``uws.storage``/``uws.schema``/``uws.notifications`` (the job tables);
* writers: ``formats`` (VOTable, CSV/TSV, PostgreSQL-encoded answers, COPY data),
  ``uws.documents``, ``xmltemplates`` and ``templates/`` (UWS and VOSI XML);
* ``adql``: the grammar, its checks and the translation to SQL.
"""
