"""Knowledge distillation from an SSD teacher (the unpruned parent) to a student (its pruned copy).

Pruning removes capacity; fine-tuning on the labels alone lets a small data set pull the student away
from what the parent knew. Matching the parent's outputs anchor by anchor (softened class scores
everywhere, box offsets where the parent sees an object) carries that knowledge back. The student's
anchors are the parent's (pruning never changes the heads' outputs), so outputs compare one to one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pruning.ssd.ssd import SSD


@dataclass
class Distiller:
    """Adds `weight` x (KL of class scores at `temperature` + teacher-weighted smooth L1 of offsets).

    Both terms are summed over anchors and divided by the number of matched positives, the MultiBox
    loss's own normaliser, so `weight` 1 puts them on the detection loss's scale.
    """

    teacher: SSD
    weight: float = 1.0
    temperature: float = 2.0

    def __post_init__(self) -> None:
        self.teacher.eval()
        for param in self.teacher.parameters():
            param.requires_grad_(False)

    def loss(self, images: torch.Tensor, loc: torch.Tensor, conf: torch.Tensor,
             num_pos: torch.Tensor) -> torch.Tensor:
        """Distillation loss of the student's (loc (B,P,4), conf (B,P,C)) on `images`."""
        with torch.no_grad():
            t_loc, t_conf = self.teacher(images)
        return self.weight * output_distance(t_loc, t_conf, loc, conf, num_pos, self.temperature)


def output_distance(ref_loc: torch.Tensor, ref_conf: torch.Tensor, loc: torch.Tensor, conf: torch.Tensor,
                    num_pos: torch.Tensor, temperature: float = 2.0) -> torch.Tensor:
    """How far (loc, conf) lie from reference outputs: KL of class scores at `temperature` (times its
    square) plus smooth L1 of offsets where the reference sees an object, over the matched positives."""
    ref_prob = F.softmax(ref_conf / temperature, dim=-1)
    ref_object = 1.0 - F.softmax(ref_conf, dim=-1)[..., 0]
    log_prob = F.log_softmax(conf / temperature, dim=-1)
    kl = (ref_prob * (torch.log(ref_prob.clamp(min=1e-8)) - log_prob)).sum()
    offsets = (F.smooth_l1_loss(loc, ref_loc, reduction="none").sum(-1) * ref_object).sum()
    return (temperature ** 2 * kl + offsets) / num_pos.clamp(min=1).float()
