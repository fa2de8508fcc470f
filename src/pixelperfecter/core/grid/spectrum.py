"""Stage 2: candidate periods and phases from a local spectrum of an edge profile."""

from __future__ import annotations

import numpy as np

from .config import DEFAULT_CONFIG, DetectorConfig


def comb_phase(profile: np.ndarray, cell: float) -> tuple[float, float]:
    """Phase of the comb with period ``cell`` that best fits the profile, and its coherence."""
    total = profile.sum()
    if total <= 0:
        return 0.0, 0.0
    k = np.arange(len(profile))
    f = np.sum(profile * np.exp(-2j * np.pi * k / cell))
    offset = (-np.angle(f) / (2 * np.pi) * cell) % cell
    return float(offset), float(np.abs(f) / total)


def _comb_coherence(profile: np.ndarray, periods: np.ndarray, chunk: int = 32) -> np.ndarray:
    """|sum of the profile on the comb of each period| (unnormalised), a few periods at a time
    (a period's row is one complex value per profile sample)."""
    k = np.arange(len(profile))
    out = np.empty(len(periods))
    for a in range(0, len(periods), chunk):
        out[a : a + chunk] = np.abs(np.exp(-2j * np.pi * k[None, :] / periods[a : a + chunk, None]) @ profile)
    return out


def comb_peaks(profile: np.ndarray, min_cell: float, max_cell: float, count: int, max_steps: int) -> list[float]:
    """The ``count`` periods strictly inside [min_cell, max_cell] whose combs over the whole
    profile are most coherent (local maxima, strongest first).

    Unlike the local spectrum, whose segments a few cells long resolve big periods only to a
    few %, one comb over the whole profile resolves them to a fraction of a px.  The scan takes
    at most ``max_steps`` periods; each peak is then refined at steps that move the last line by
    1/8 cell.  Maxima at the window's ends are left out (coherence often keeps rising towards
    the next structure), and so are a peak's side lobes: within 2 cells of drift over the
    profile (2 p^2 / length) only the strongest counts.
    """
    length = len(profile)
    if profile.sum() <= 0 or max_cell <= min_cell or length < 2:
        return []
    fine = min_cell * min_cell / (8.0 * length)
    steps = int(min(max_steps, max(3, np.ceil((max_cell - min_cell) / fine) + 1)))
    periods = np.linspace(min_cell, max_cell, steps)
    coherence = _comb_coherence(profile, periods)
    inner = np.nonzero((coherence[1:-1] >= coherence[:-2]) & (coherence[1:-1] > coherence[2:]))[0] + 1
    coarse = periods[1] - periods[0]
    found: list[float] = []
    for j in inner[np.argsort(coherence[inner])[::-1]]:
        local = np.arange(periods[j] - coarse, periods[j] + coarse + fine / 2, fine) if coarse > fine else periods[j : j + 1]
        period = float(local[int(np.argmax(_comb_coherence(profile, local)))])
        if all(abs(period - q) > 2 * q * q / length for q in found):
            found.append(period)
        if len(found) >= count:
            break
    return found


def coherence_spectrum(profile: np.ndarray, max_cell: float, config: DetectorConfig = DEFAULT_CONFIG) -> tuple[np.ndarray, np.ndarray]:
    """Local spectral coherence of the profile: |spectrum| / energy, averaged over segments.

    Segments (Welch-style, Hann-windowed, half overlapping) a few cells long are each coherent
    even when lines drift or jump between them, which would smear one global spectrum.  The
    window also keeps side lobes of a strong peak from posing as nearby periods.
    """
    seg_len = int(min(len(profile), max(config.spectrum_min_segment, config.spectrum_cells_per_segment * max_cell)))
    step = max(1, seg_len // 2)
    starts = list(range(0, max(1, len(profile) - seg_len + 1), step))
    if starts[-1] + seg_len < len(profile):
        starts.append(len(profile) - seg_len)
    window = np.hanning(seg_len)
    n = seg_len * config.spectrum_pad
    segments = np.stack([profile[a : a + seg_len] for a in starts]) * window[None, :]
    energy = segments.sum(axis=1)
    used = energy > 0
    freqs = np.arange(n // 2 + 1) / n
    if not used.any():
        return np.zeros(n // 2 + 1), freqs
    segments = segments[used]
    centred = segments - (segments.mean(axis=1) / window.mean())[:, None] * window[None, :]
    total_mag = np.abs(np.fft.rfft(centred, n=n, axis=1)).sum(axis=0)
    return total_mag / float(energy[used].sum()), freqs


def _band(freqs: np.ndarray, mag: np.ndarray, min_cell: float, max_cell: float) -> tuple[int, int]:
    lo = max(int(np.searchsorted(freqs, 1.0 / max_cell)), 1)
    hi = min(int(np.searchsorted(freqs, 1.0 / min_cell, side="right")), len(mag) - 1)
    return lo, hi


def _interpolated_period(mag: np.ndarray, freqs: np.ndarray, j: int) -> float:
    a, b, c = mag[j - 1], mag[j], mag[j + 1]
    denom = a - 2 * b + c
    shift = float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5)) if denom != 0 else 0.0
    return float(1.0 / (freqs[j] + shift * (freqs[1] - freqs[0])))


def peak_period(mag: np.ndarray, freqs: np.ndarray, min_cell: float, max_cell: float) -> tuple[float, float] | None:
    """The strongest spectral peak with a period in [min_cell, max_cell]: (period, coherence)."""
    lo, hi = _band(freqs, mag, min_cell, max_cell)
    if hi - lo < 1:
        return None
    j = lo + int(np.argmax(mag[lo:hi]))
    if j <= 0 or j >= len(mag) - 1 or freqs[j] <= 0:
        return None
    return _interpolated_period(mag, freqs, j), float(mag[j])


def peak_periods(mag: np.ndarray, freqs: np.ndarray, min_cell: float, max_cell: float, config: DetectorConfig = DEFAULT_CONFIG) -> list[tuple[float, float]]:
    """The strongest local spectral peaks in the period range, strongest first, a few % apart."""
    lo, hi = _band(freqs, mag, min_cell, max_cell)
    if hi - lo < 3:
        return []
    seg = mag[lo - 1 : hi + 1]
    local = np.nonzero((seg[1:-1] >= seg[:-2]) & (seg[1:-1] > seg[2:]))[0] + lo
    out: list[tuple[float, float]] = []
    for j in local[np.argsort(mag[local])[::-1]]:
        period = _interpolated_period(mag, freqs, int(j))
        if all(abs(period - p) > config.peak_separation * p for p, _ in out):
            out.append((period, float(mag[j])))
        if len(out) >= config.max_peaks:
            break
    return out


Spectrum = tuple[np.ndarray, np.ndarray]


def refine_period(profile: np.ndarray, approx: float, min_cell: float, max_cell: float, config: DetectorConfig = DEFAULT_CONFIG,
                  spectrum: Spectrum | None = None) -> float:
    """The spectral peak within ``refine_window`` of ``approx`` (``approx`` when there is none).

    ``spectrum``: the profile's ``coherence_spectrum`` at ``max_cell``, when already computed.
    """
    mag, freqs = spectrum if spectrum is not None else coherence_spectrum(profile, max_cell, config)
    w = config.refine_window
    peak = peak_period(mag, freqs, max(min_cell, approx * (1 - w)), min(max_cell, approx * (1 + w)))
    return approx if peak is None else peak[0]
