"""The grid estimator: a small residual CNN plus fixed Fourier features of the edge profiles.

Outputs, per image crop, 7 numbers: cell_w and cell_h (original px / 256), the phase of each
axis as (sin, cos) and a confidence logit.

Why Fourier features: the cell size is a *period*, and a CNN with global pooling is poor at
measuring periods longer than its receptive field.  The column/row sums of the edge map and
of the colour gradient are projected on cos/sin waves of log-spaced periods (4..80 px); their
magnitudes say which period is present, their angles where the boundaries sit.  The
projections are plain matrix products with fixed buffers, so the model stays scriptable and
exportable.

Cell size head: per axis, a softmax over the probed periods gives a soft choice of period
(the spectral peaks line up with the right bin, which is easy to learn), its expectation in
log space plus a learned residual is the regressed cell size.

Why (sin, cos) for offsets: an offset is a phase (offset mod cell), so 0.1 px and
cell - 0.1 px are neighbours; regressing the raw offset would punish the right answer with a
loss of one whole cell.  The unit vector (sin 2*pi*o/c, cos 2*pi*o/c) has no wrap-around.
It is read out, not guessed: the colour-gradient profile is projected on the cos/sin wave of
the *predicted* period (detached), blended with a learned correction; when the cell size is
right the projection's angle is the phase, exactly as the heuristic's own phase estimate.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

OUTPUTS = 7  # cell_w, cell_h, sin_x, cos_x, sin_y, cos_y, confidence logit
MIN_PERIOD, MAX_PERIOD = 3.0, 96.0


class ResidualBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.skip(x))


class GridEstimator(nn.Module):
    def __init__(self, crop: int = 160, width: int = 24, blocks_per_stage: int = 1, spectral_periods: int = 48, hidden: int = 128, dropout: float = 0.0):
        super().__init__()
        self.crop = crop
        # Stride 4 before the residual stages keeps a CPU training step cheap; the fine period
        # information comes from the full-resolution Fourier features, not from the CNN.
        self.stem = nn.Sequential(
            nn.Conv2d(4, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2)
        )
        layers: list[nn.Module] = []
        c_in = width
        for stage, mult in enumerate((1, 2, 3, 4)):
            c_out = width * mult
            for b in range(blocks_per_stage):
                layers.append(ResidualBlock(c_in, c_out, 2 if (b == 0 and stage > 0) else 1))
                c_in = c_out
        self.body = nn.Sequential(*layers)
        periods = torch.exp(torch.linspace(math.log(MIN_PERIOD), math.log(MAX_PERIOD), spectral_periods))
        self.register_buffer("log_periods", torch.log(periods), persistent=False)
        self.register_buffer("positions", torch.arange(crop, dtype=torch.float32), persistent=False)
        k = torch.arange(crop, dtype=torch.float32)
        angle = 2 * math.pi * k[:, None] / periods[None, :]
        self.register_buffer("basis", torch.cat([torch.cos(angle), torch.sin(angle)], dim=1), persistent=False)
        n_spec = 2 * 2 * 3 * spectral_periods  # 2 axes x 2 profiles x (cos, sin, magnitude)
        self.head = nn.Sequential(
            nn.Linear(c_in + n_spec, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
        )
        # Per axis: period logits, a log-cell residual, a learned (sin, cos) correction; + confidence.
        self.out = nn.Linear(hidden, 2 * spectral_periods + 2 + 4 + 1)
        self.n_periods = spectral_periods

    def _spectral(self, profile: torch.Tensor) -> torch.Tensor:
        """(B, crop) profile -> (B, 3P): cos and sin projections and their magnitude."""
        p = profile - profile.mean(dim=1, keepdim=True)
        p = p / (torch.sqrt((p * p).sum(dim=1, keepdim=True)) + 1e-6)
        proj = p @ self.basis
        c, s = proj[:, : self.n_periods], proj[:, self.n_periods :]
        return torch.cat([c, s, torch.sqrt(c * c + s * s + 1e-8)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        edges = x[:, 3]
        rgb = x[:, :3]
        gx = (rgb[:, :, :, 1:] - rgb[:, :, :, :-1]).abs().amax(dim=1)
        gy = (rgb[:, :, 1:, :] - rgb[:, :, :-1, :]).abs().amax(dim=1)
        # Boundary k sits between pixels k-1 and k: pad the gradient profile to crop length.
        gx_prof = F.pad(gx.sum(dim=1), (1, 0))
        gy_prof = F.pad(gy.sum(dim=2), (1, 0))
        spec = torch.cat([
            self._spectral(edges.sum(dim=1)), self._spectral(gx_prof),
            self._spectral(edges.sum(dim=2)), self._spectral(gy_prof),
        ], dim=1)
        feats = self.body(self.stem(x)).mean(dim=(2, 3))
        h = self.out(self.head(torch.cat([feats, spec.to(feats.dtype)], dim=1))).float()
        n = self.n_periods
        logits = h[:, : 2 * n].reshape(-1, 2, n)
        log_cell = (torch.softmax(logits, dim=2) * self.log_periods).sum(dim=2) + 0.1 * torch.tanh(h[:, 2 * n : 2 * n + 2])
        cell_px = torch.exp(log_cell)
        corr = h[:, 2 * n + 2 : 2 * n + 6]
        phase_x = self._phase(gx_prof.float(), cell_px[:, 0].detach()) + corr[:, 0:2]
        phase_y = self._phase(gy_prof.float(), cell_px[:, 1].detach()) + corr[:, 2:4]
        # Columns 0..6 are the estimate; the period logits follow for the auxiliary training loss.
        return torch.cat([cell_px / 256.0, phase_x, phase_y, h[:, 2 * n + 6 :], logits.reshape(-1, 2 * n)], dim=1)

    def _phase(self, profile: torch.Tensor, cell_px: torch.Tensor) -> torch.Tensor:
        """(B, crop) profile, (B,) period -> (B, 2) unit (sin, cos) of 2*pi*offset/cell."""
        p = profile - profile.mean(dim=1, keepdim=True)
        angle = 2 * math.pi * self.positions[None, :] / cell_px[:, None]
        c = (p * torch.cos(angle)).sum(dim=1)
        s = (p * torch.sin(angle)).sum(dim=1)
        norm = torch.sqrt(c * c + s * s) + 1e-6
        return torch.stack([s / norm, c / norm], dim=1)


def build_model(cfg) -> nn.Module:
    """The model a TrainConfig (or its dict) describes (``model: gridline`` -> GridlineNet)."""
    get = (lambda k: cfg[k]) if isinstance(cfg, dict) else (lambda k: getattr(cfg, k))
    kind = cfg.get("model", "grid_estimator") if isinstance(cfg, dict) else getattr(cfg, "model", "grid_estimator")
    if kind == "gridline":
        from .gridline import build_gridline

        return build_gridline(cfg)
    return GridEstimator(
        crop=int(get("crop")), width=int(get("width")), blocks_per_stage=int(get("blocks_per_stage")),
        spectral_periods=int(get("spectral_periods")), hidden=int(get("hidden")), dropout=float(get("dropout")),
    )


def decode(out: torch.Tensor) -> dict[str, torch.Tensor]:
    """Raw outputs -> cell (B,2) normalised, phase unit vectors (B,4), confidence logit (B,),
    period logits (B, 2, P)."""
    cell = out[:, 0:2]
    sx, cx, sy, cy = out[:, 2], out[:, 3], out[:, 4], out[:, 5]
    logits = out[:, OUTPUTS:].reshape(out.shape[0], 2, -1)
    return {"cell": cell, "phase": torch.stack([sx, cx, sy, cy], dim=1), "conf_logit": out[:, 6], "period_logits": logits}


def period_targets(cell_px: torch.Tensor, n_periods: int) -> torch.Tensor:
    """(B, 2) cells in px -> (B, 2, P) soft one-hot over the log-spaced periods (sigma = 1 bin)."""
    log_p = torch.linspace(math.log(MIN_PERIOD), math.log(MAX_PERIOD), n_periods, device=cell_px.device)
    step = (log_p[1] - log_p[0]) if n_periods > 1 else torch.tensor(1.0, device=cell_px.device)
    d = (torch.log(cell_px.clamp(min=1e-3))[..., None] - log_p) / step
    w = torch.exp(-0.5 * d * d)
    return w / w.sum(dim=-1, keepdim=True).clamp(min=1e-8)


def phase_to_offset(phase: torch.Tensor, cell_px: torch.Tensor) -> torch.Tensor:
    """(B,4) (sin, cos) per axis and (B,2) cell in px -> (B,2) offsets in px within [0, cell)."""
    ax = torch.atan2(phase[:, 0], phase[:, 1])
    ay = torch.atan2(phase[:, 2], phase[:, 3])
    ang = torch.stack([ax, ay], dim=1) % (2 * math.pi)
    return ang / (2 * math.pi) * cell_px
