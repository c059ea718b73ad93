"""Region subscriptions (issue 19): a client's footprint, stream filter and sink; every new
revision whose region overlaps the footprint is queued for it in the outbox.

``footprint`` (MOC forms → order-29 ranges), ``matching`` (the one indexed match query and
the queuing, on a flow's transaction), ``envelope`` (what a subscriber receives),
``storage`` (management SQL), ``service`` (rules), ``urls`` (webhook form and SSRF refusal),
``models`` (wire).
"""
