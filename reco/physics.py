r"""The physics shared by the simulation and the likelihood: light speed, Cherenkov geometry,
Pandel-type photon delays, light yield and sensor noise.

Track geometry
--------------
A muon moves along the unit vector :math:`\hat d` and is at point :math:`\vec q` at time
:math:`t_0`. For a sensor at :math:`\vec p`, let :math:`l = (\vec p - \vec q)\cdot\hat d` be the
distance along the track and :math:`\rho` the perpendicular distance. Unscattered Cherenkov
light emitted at angle :math:`\theta_c` (:math:`\cos\theta_c = 1/n_p`) reaches the sensor at

.. math:: t_\mathrm{geo} = t_0 + \frac{l}{c} + \rho\,\frac{n_g - \cos\theta_c}{c\,\sin\theta_c},

having travelled :math:`d = \rho / \sin\theta_c` through the ice (phase index :math:`n_p`,
group index :math:`n_g`).

Photon delay (Pandel)
---------------------
Scattering delays photons. The time residual :math:`t = t_\mathrm{hit} - t_\mathrm{geo}` follows
the Pandel function, a gamma distribution whose shape grows with the distance travelled:

.. math::

    p(t \mid d) = \frac{\beta^{k} t^{k-1} e^{-\beta t}}{\Gamma(k)}, \qquad
    k = \frac{d}{\lambda}, \qquad \beta = \frac{1}{\tau} + \frac{c_\mathrm{ice}}{\lambda_a},

smeared by the sensor's Gaussian timing jitter :math:`\sigma` (Pandel 1996; the parameters below
are the AMANDA values used in IceCube's Pandel fits).

Light yield
-----------
The mean number of detected photons at perpendicular distance :math:`\rho` from a track of
energy :math:`E` is

.. math:: \mu(\rho, E) = Y_0 \left(\frac{E}{100\,\mathrm{TeV}}\right)^{\gamma}
          \frac{r_0}{\rho + r_0}\, e^{-\rho/\lambda_\mathrm{att}},

a cylindrical spread (:math:`1/\rho` far from the track) times attenuation; high-energy muons
lose energy (and emit light) nearly in proportion to :math:`E`, softened by :math:`\gamma < 1`
for the energy that leaves the detector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

C_VACUUM = 0.299792458
"""Speed of light in vacuum [m/ns]."""
N_PHASE = 1.3195
"""Phase refractive index of ice (sets the Cherenkov angle)."""
N_GROUP = 1.35634
"""Group refractive index of ice (sets the photon speed)."""
COS_CHERENKOV = 1.0 / N_PHASE
"""Cosine of the Cherenkov angle."""
SIN_CHERENKOV = math.sqrt(1.0 - COS_CHERENKOV**2)
"""Sine of the Cherenkov angle."""
C_ICE = C_VACUUM / N_GROUP
"""Photon (group) speed in ice [m/ns]."""
RHO_DELAY = (N_GROUP - COS_CHERENKOV) / (C_VACUUM * SIN_CHERENKOV)
"""Extra arrival time per metre of perpendicular distance [ns/m] (see module docstring)."""

READOUT_WINDOW_NS = 20_000.0
"""Length of the readout window [ns]; the track passes the detector centre in its middle."""
DARK_RATE_HZ = 500.0
"""Dark-noise rate of one sensor [Hz]."""


@dataclass(frozen=True)
class IceModel:
    """Pandel delay parameters, sensor jitter and light-yield parameters.

    Attributes
    ----------
    scattering_length_m : float
        Pandel :math:`\\lambda` [m].
    absorption_length_m : float
        Pandel :math:`\\lambda_a` [m].
    tau_ns : float
        Pandel :math:`\\tau` [ns].
    jitter_ns : float
        Gaussian timing jitter :math:`\\sigma` of a sensor [ns].
    yield_100tev : float
        :math:`Y_0`, photons at :math:`\\rho = 0` per sensor for a 100 TeV muon.
    yield_index : float
        :math:`\\gamma`.
    yield_radius_m : float
        :math:`r_0` [m].
    attenuation_m : float
        :math:`\\lambda_\\mathrm{att}` [m].
    """

    scattering_length_m: float = 33.3
    absorption_length_m: float = 98.0
    tau_ns: float = 557.0
    jitter_ns: float = 3.0
    yield_100tev: float = 100.0
    yield_index: float = 0.5
    yield_radius_m: float = 10.0
    attenuation_m: float = 45.0

    @property
    def beta(self) -> float:
        """Pandel rate :math:`\\beta = 1/\\tau + c_\\mathrm{ice}/\\lambda_a` [1/ns]."""
        return 1.0 / self.tau_ns + C_ICE / self.absorption_length_m

    @property
    def shape_per_rho(self) -> float:
        """Pandel shape per metre of perpendicular distance, :math:`1/(\\lambda\\sin\\theta_c)`."""
        return 1.0 / (self.scattering_length_m * SIN_CHERENKOV)

    def light_yield(self, rho: NDArray[np.float64], energy_tev: float) -> NDArray[np.float64]:
        """Mean detected photons :math:`\\mu(\\rho, E)` at perpendicular distances ``rho`` [m]."""
        scale = self.yield_100tev * (energy_tev / 100.0) ** self.yield_index
        r0 = self.yield_radius_m
        return np.asarray(scale * r0 / (rho + r0) * np.exp(-rho / self.attenuation_m))


DEFAULT_ICE = IceModel()
"""The ice model used by default for simulation and reconstruction."""
