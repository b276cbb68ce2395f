"""Default boxes (anchors, "priors") for SSD feature maps.

Boxes are normalised to [0, 1] and returned in centre form (cx, cy, w, h), one row per anchor, in the
order the heads emit them: feature map by feature map, row-major over cells, then anchor by anchor.
The same tensor (converted to corners) becomes the `proposals` constant of the IR's DetectionOutput.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class AnchorConfig:
    """Scales grow linearly from `min_scale` (first map) to `max_scale` (last map), as in the SSD paper.

    `min_scale` defaults lower than the paper's 0.2 because people in overhead/corridor footage are small.
    Every map gets aspect ratios 1, `aspect_ratios` and their reciprocals, plus one extra square box of
    scale sqrt(s_k * s_k+1); the first map, like TF's SSDLite, only gets 1 (at half scale), 2 and 1/2.
    """

    min_scale: float = 0.1
    max_scale: float = 0.9
    aspect_ratios: tuple[float, ...] = (2.0, 3.0)
    reduce_first: bool = True
    clip: bool = True

    def scales(self, num_maps: int) -> list[float]:
        if num_maps == 1:
            return [self.min_scale, self.max_scale]
        step = (self.max_scale - self.min_scale) / (num_maps - 1)
        return [self.min_scale + step * k for k in range(num_maps)] + [1.0]


@dataclass(frozen=True)
class MapShapes:
    """Box shapes (w, h) for one feature map, in normalised units."""

    boxes: list[tuple[float, float]] = field(default_factory=list)


def box_shapes(config: AnchorConfig, num_maps: int) -> list[MapShapes]:
    """Per-map list of (w, h); its length per map is the number of anchors per cell."""
    scales = config.scales(num_maps)
    shapes = []
    for k in range(num_maps):
        s = scales[k]
        if k == 0 and config.reduce_first:
            ratios = [1.0, 2.0, 0.5]
            boxes = [(s / 2 * math.sqrt(r), s / 2 / math.sqrt(r)) if r == 1.0 else
                     (s * math.sqrt(r), s / math.sqrt(r)) for r in ratios]
        else:
            boxes = [(s, s), (math.sqrt(s * scales[k + 1]),) * 2]
            for r in config.aspect_ratios:
                boxes += [(s * math.sqrt(r), s / math.sqrt(r)), (s / math.sqrt(r), s * math.sqrt(r))]
        shapes.append(MapShapes(boxes))
    return shapes


def anchors_per_cell(config: AnchorConfig, num_maps: int) -> list[int]:
    return [len(m.boxes) for m in box_shapes(config, num_maps)]


def generate(config: AnchorConfig, map_sizes: list[tuple[int, int]]) -> torch.Tensor:
    """Anchors (P, 4) in centre form for feature maps of the given (height, width)."""
    rows = []
    for (h, w), shapes in zip(map_sizes, box_shapes(config, len(map_sizes)), strict=True):
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                indexing="ij")
        cx = ((xs + 0.5) / w).reshape(-1, 1)
        cy = ((ys + 0.5) / h).reshape(-1, 1)
        bw = torch.tensor([b[0] for b in shapes.boxes], dtype=torch.float64).reshape(1, -1)
        bh = torch.tensor([b[1] for b in shapes.boxes], dtype=torch.float64).reshape(1, -1)
        grid = torch.stack(torch.broadcast_tensors(cx, cy, bw, bh), dim=-1)  # (cells, A, 4)
        rows.append(grid.reshape(-1, 4))
    anchors = torch.cat(rows).float()
    if config.clip:
        corners = center_to_corners(anchors).clamp(0.0, 1.0)
        anchors = corners_to_center(corners)
    return anchors


def center_to_corners(boxes: torch.Tensor) -> torch.Tensor:
    cxcy, wh = boxes[..., :2], boxes[..., 2:]
    return torch.cat([cxcy - wh / 2, cxcy + wh / 2], dim=-1)


def corners_to_center(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat([(boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]], dim=-1)
