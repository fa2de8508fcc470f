"""Every tuned constant of grid detection, in one frozen object, each with the reason for it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DetectorConfig:
    """Knobs of the grid detector.  Pass a modified copy to ``detect_grid`` to experiment."""

    # Cells under 2.5 px are not pixel art a generator makes; over 80 px the image holds too few
    # cells for its own layout to tell the grid.
    min_cell: float = 2.5
    max_cell: float = 80.0
    # A cell size the user forces (--size) must leave a cell at least 2 px: a smaller cell has no
    # core to sample (at 1 px the "sprite" is the image itself, under 1 px it is upsampled).
    min_forced_cell: float = 2.0
    # Fewer than ~8 cells across is not pixel art we can tell from its own layout.
    min_cells_across: float = 8.0
    # Edge steps summed over a whole line under this share of a pixel's max step count as grain.
    noise_percentile: float = 25.0
    # Welch spectrum: segments at least this long (and 6 of the largest cells), 16x zero padding.
    spectrum_min_segment: int = 256
    spectrum_cells_per_segment: float = 6.0
    spectrum_pad: int = 16
    # Below this spectral coherence an axis has no usable periodic structure.
    min_coherence: float = 0.05
    # Spectral peaks closer than 3% are one peak; at most 4 starts are walked.
    peak_separation: float = 0.03
    max_peaks: int = 4
    # Other spectral starts are walked only when at least half as strong as the strongest.
    start_strength: float = 0.5
    # Harmonic ladder: a finer comb's extra lines are "filled" at this share of the old lines'
    # strength; a coarser comb's dropped lines are "empty" below this share.
    filled: float = 0.5
    # Plateau lines (a sprite upscaled with smoothing: ramps over 50-85% of a cell): the comb's
    # lines keep 60% of their strength under a running minimum 45% of a cell wide.  Measured at
    # the true cell, seeds 20000-20059: the smooth tier's median 0.75; the other tiers' cells of
    # 10 px and more at most 0.45.  Under 10 px a Gaussian-blurred edge is as wide (small tier
    # up to 0.65), so smaller cells are never called plateaus.
    plateau_width: float = 0.45
    plateau_keep: float = 0.6
    plateau_min_cell: float = 10.0
    # ... and a fit on plateaus is one only with a clear comb: the smooth tier's fits on plateaus
    # have coherence 0.10 and more (seeds 30000-30059), scikit-image's coffee 0.03-0.06.
    plateau_min_coherence: float = 0.08
    # Ramp harmonics: ramps over more than half a cell fill every line of the half-pitch comb
    # shifted a quarter cell, so the ladder cannot see its dropped lines empty.  Two readings of
    # the profile tell, and a merge by k needs both together (their product): folded at k x the
    # reading, a ramp harmonic folds to plateaus (``ramp_keep``), and its k sub-folds (lines
    # n mod k) differ more than lines grouped by n // k mod k do (``ramp_parity``).  Measured at
    # k = 2 on seeds 30000-30059: the 900 right axes of all tiers have a product of at most 0.46
    # (high parity comes with keep <= 0.09, high keep with parity <= 0.7); the 25 half-pitch smooth
    # readings 0.57-13 (ramps over ~50% of a cell keep little: 0.15-0.45, but parity 4-20).
    ramp_evidence: float = 1.0
    ramp_min_parity: float = 1.5
    # Near-square axes merge together: the weaker needs half the evidence (a symmetric sprite's
    # parity is weak along its axis of symmetry: smooth tier 20029's y, 0.47).
    ramp_partner: float = 0.5
    # ... and when both axes are clear ramp harmonics, their merged comb needs less coherence
    # than a lone plateau fit's 0.08: ramps over 80% of a cell flatten it (smooth 30007 and
    # 30028's 1/3 readings merge to 0.041-0.072), while the photo retina's 8-px JPEG blocks
    # merge to 16 px at 0.031-0.033 (it must stay refused).
    ramp_pair_coherence: float = 0.04
    # An axis at a 1/k harmonic of a merged one within 2% keeps its own pitch x k; further off
    # it is no harmonic (a 10.04-px y beside a 28.04-px x, for 28.17) and is refitted.
    ramp_partner_tol: float = 0.02
    # Plateau fits take the pitch whose fold is sharpest, searched +-3% (then +-0.3%) in 25
    # steps: on the 205 plateau axes of smooth seeds 20000-20059 and 40000-40059 pitch errors
    # over 1% fell from 38 to 5 (median 0.18% to 0.08%).
    fold_pitch_span: float = 0.03
    fold_pitch_steps: int = 25
    # The sub-folds' distance is a share of their mass; this floor keeps a clean image's
    # near-zero baseline from turning noise into a large ratio.
    ramp_parity_floor: float = 0.01
    # Merges tried, smallest first (1/6 merges as 2 then 3).  A 1/4 reading's lines n mod 2 can
    # look alike (each half holds a ramp's edge), so 4 is tried directly: +1 restored on each
    # of the smooth tuning ranges 20000, 30000, 40000, no other grid changed.
    ramp_merges: tuple[int, ...] = (2, 3, 4)
    empty: float = 0.3
    max_split: int = 6
    max_merge: int = 12
    # The line window of a comb reaches a quarter cell (not the neighbouring line of a fine
    # comb); the mid-cell window 12% of a cell (blur around a line must not count as mid-cell).
    line_window: float = 0.25
    mid_window: float = 0.12
    # Period refinement searches +-4% around a ladder rung (the rung's own error).
    refine_window: float = 0.04
    # A grid whose mid-cell edges reach this share of its line edges is suspect: try other starts.
    suspect_mid: float = 0.15
    # Another start replaces the strongest only when its cells are clearly cleaner (mid-cell
    # share under 60%, or under 30% for a whole multiple) and it keeps half the coherence.
    cleaner_start: float = 0.6
    cleaner_multiple: float = 0.3
    start_coherence: float = 0.5
    # A finer start's grid replaces the winner when its comb is this much more coherent, no
    # busier mid-cell, and the winner is no whole multiple of it: a clean 12-px upscale whose
    # sparse edges the 4-px start climbed into a 16-px comb (coherence 0.58 against 1.0 for
    # 12: clean tier seed 40013).  A finer non-harmonic comb otherwise only sits on some edges.
    finer_coherence: float = 1.5
    # Robust pitch fit: Tukey scale of 8% of a cell (at least 0.75 px), 4 reweighting rounds,
    # and a fitted pitch further than 10% from the start is rejected.
    tukey_scale: float = 0.08
    tukey_rounds: int = 4
    pitch_tolerance: float = 0.10
    # Line snapping may move a line this far (fraction of a cell) from the uniform grid: a
    # half-cell column jump needs a little over half a cell.
    max_snap: float = 0.55
    # DP line placement: a weak pull to the uniform grid, a cost for changing the deviation
    # between neighbouring lines (seams are rare, jitter is noise).
    snap_prior: float = 0.15
    snap_jump: float = 3.0
    # Weight of the evidence off a local peak of the edge profile (0: only peaks attract lines).
    # Full weight let a border line with no edge of its own slide onto its neighbour's flank
    # (two lines on one edge, a cell lost): small tier, tuning seeds 20000-20069, restored
    # 67/70 -> 70/70, no other tier changed.
    snap_flank_weight: float = 0.0
    # Share of two-colour cells below which a grid is not checked for being 2x/3x too coarse.
    min_bad_share: float = 0.01
    # A sample further than 64 from its cell's median is a second colour; 15% of a core (a
    # 1-cell detail in a 2x2-cell core fills a quarter) makes the cell two-coloured.
    two_colour_step: int = 64
    two_colour_share: float = 0.15
    # A division by 2 or 3 is right when it removes all but 15% of the two-colour cells
    # (sub-cell strokes only get thinner and must not invent cells).
    split_residual: float = 0.15
    # Divided cells need a core of a few pixels, or they look clean only for lack of samples.
    min_split_cell: float = 4.0
    # Cells still this two-coloured after the splits (the score's "single" term: 3.6% of the
    # cells at the live step; right grids on the harsh tiers stay above ~0.7) may be a far
    # coarser structure than 3x (sprites spaced 6 cells apart: small tier seed 20118, 5.2-px
    # cells read as 30.9): the finest readings under them are scored against them.
    finer_single_below: float = 0.3
    # Regional vote: images at least 320 px on both sides are split in quarters; regions agree
    # within 2%, by more than half the edge energy, on a whole multiple (2, 3) of the global
    # cell or one a few percent (over 2%, the local drift of a single grid) away.
    region_min_side: int = 320
    region_agree: float = 0.02
    region_multiple_tol: float = 0.06
    # Axes whose cells differ by over 1.5x mean one axis sits on a harmonic or on other
    # structure: cells are near-square in generated art (1-4%), so each axis is refitted within
    # 8% of the other's cell and both readings are scored in 2-D (real 1:2 cells still win).
    # (Testing from 6% on fixed drift tier seed 30025 but broke seed 21059 and the real
    # medallion, whose cells really differ by 7%.)
    axis_disagreement: float = 1.5
    axis_harmonic_tol: float = 0.08
    # Beside the ladder's fit near the other axis's cell, the two strongest whole-profile comb
    # peaks in that window are scored (streaks pull the local spectrum's peak 5-7% off a big
    # pitch: big tier seeds 20257, 20296); the scan stops at 256 periods (the 1/8-cell steps of
    # a 5-px cell on a 40 MP axis would need thousands).
    comb_peak_count: int = 2
    comb_peak_steps: int = 256
    # Selection: the "single" colour term is exp(-share / 0.03) of two-colour cells (right grids
    # on the harsh tiers stay under ~1%, a 2x-coarse grid of sparse art reaches 5%+); another
    # candidate must beat the detector's own by 25% (near-ties are noise).
    two_colour_scale: float = 0.03
    # A cell colour step over 32 (L-inf) across a line is a real change: the median of a core
    # lattice holds grain and JPEG noise well under that.
    live_step: int = 32
    # An 8-px comb (within 0.05 px) at phase 0 with under 75% of its lines crossing any colour
    # change is JPEG's block grid, not art: the next periodic structure at least 1.5x coarser
    # is scored against it.  (Sparse flat art leaves many lines dead on its right grid too,
    # so dead lines alone do not make a grid suspect.)
    min_live: float = 0.75
    jpeg_cell_tol: float = 0.05
    # JPEG codes 8 x 8-px blocks from the image's origin.
    jpeg_block: float = 8.0
    coarser_step: float = 1.5
    # The block grid's comb counts as "at phase 0" within this many px of the multiples of 8:
    # the art's own edges pull a fitted 8-px comb's phase off the blocks (7.49 on small tier
    # seed 30034, which 0.5 px missed).
    jpeg_phase_tol: float = 1.0
    select_ratio: float = 1.25
    # With proposers (the hybrid), candidates are chosen by the calibrated probability of being
    # right (``grid.right``): a proposal replaces the detector's grid only when its probability
    # is at least 0.3 and higher than the detector's by 0.3.  Chosen on `perfecter ml
    # calibrate`'s held-out synthetic seeds (60_000_000+, never the evaluation's), replaying the
    # rule on their labelled candidates: 70 detector successes and 8 mined failures; margin 0.3
    # broke none at floor 0.3 or 0.5 and fixed 2 / 1; margins 0.1-0.2 broke one.  The margin is
    # wide because the probabilities of two grids of one image are not independent guesses.
    right_margin: float = 0.3
    right_floor: float = 0.3
    # With the model's pairwise part (shipped), a proposal wins when P(it is right rather than
    # the detector's grid) reaches 0.7.  Replayed on the held-out candidates (24 mined detector
    # failures, 70 successes): 0.5 fixed 15 and broke 2, 0.6 fixed 12 / broke 0, 0.7 fixed 10 /
    # broke 0, 0.8 fixed 7 / broke 0; 0.7 keeps a gap above the first breaks.  The winner must
    # also score no lower than the detector's grid (``select._select_by_probability``): with the
    # count neighbours the pairwise rule alone broke a big case and a real icon sheet of `ml
    # evaluate --seed 20000`, where both of those candidates scored well below the detector's.
    right_pair_threshold: float = 0.7
    # Two grids whose cells agree within 1 % on both axes are the same grid (the evaluation's
    # "cell within 1 %"): a proposal that refinement moves onto the detector's own grid is kept
    # unrefined, since refining it adds nothing the detector did not already say.
    same_grid: float = 0.01
    # A proposal within 10 % of the detector's cell on both axes is also tried with either axis
    # taken from the detector (the detector's near misses are one axis a few percent off).
    mix_window: float = 0.10
    # With proposers, the detector's grid is also tried with 1 or 2 cells more or fewer across
    # each axis (``count_neighbours``): big cells under drift lose a line or two over the image.
    count_steps: tuple[int, ...] = (1, 2)
    # Photos and paintings: colour changes inside cells about as much as between them.  Pixel
    # art stays under ~0.15 (synthetic tiers <= 0.08, real generated images <= 0.14, texture
    # tiles 0.34); scikit-image's photographs reach 0.24-1.0.  Over 0.4 is refused as "no grid";
    # between 0.15 and 0.4 the confidence falls to 0, so the result is flagged.  Only grids of a
    # confidence under 0.8 are tested (photos never reached 0.6; clean combs are pixel art).
    smooth_ok: float = 0.15
    smooth_refuse_min_cell: float = 8.0
    smooth_refuse_small: float = 0.8  # under 8-px cells: harsh 5-px art reached 0.51, noise 0.94
    smooth_check_below: float = 0.8
    smooth_min_step: int = 8
    # Smoothness is a ratio of two means over cells: past 65k cells (a busy 1.6 MP image) it
    # reads bands of 16 cell rows spread evenly over the image, that many cells in all, so that
    # its cost stops growing with the image (it was 44% of a busy 16 MP image's time: 108 ->
    # 20 ms).  Against the whole image, on busy 16 / 41 MP images, six photos upscaled 8x and a
    # real sprite upscaled 3x, at 6.3 / 12 / 24-px grids: within 0.02, and 0.034 at worst (a
    # tiled sparse sprite whose rows differ by tile), against 0.25 between flag and refusal.
    # (Bands of 2 or 4 rows spread wider were no closer and slower.)
    smooth_cells: int = 1 << 16
    smooth_band_rows: int = 16
    smooth_refuse: float = 0.4
    # Confidence: coherence saturates at 0.3.
    coherence_full: float = 0.3


DEFAULT_CONFIG = DetectorConfig()
