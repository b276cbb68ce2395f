"""MultiBox loss: smooth L1 on positives plus cross-entropy with 3:1 hard negative mining."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossParts:
    total: torch.Tensor
    loc: torch.Tensor
    conf: torch.Tensor


def multibox_loss(loc: torch.Tensor, conf: torch.Tensor, loc_t: torch.Tensor, labels_t: torch.Tensor,
                  neg_pos_ratio: int = 3) -> LossParts:
    """Loss normalised by the number of positives.

    Args:
        loc: (B, P, 4) predicted offsets.
        conf: (B, P, C) class logits, column 0 background.
        loc_t: (B, P, 4) target offsets.
        labels_t: (B, P) target labels.
        neg_pos_ratio: negatives kept per positive, the hardest first.
    """
    pos = labels_t > 0
    num_pos = pos.sum().clamp(min=1).float()
    loc_loss = F.smooth_l1_loss(loc[pos], loc_t[pos], reduction="sum")
    ce = F.cross_entropy(conf.reshape(-1, conf.shape[-1]), labels_t.reshape(-1), reduction="none")
    ce = ce.reshape(labels_t.shape)
    with torch.no_grad():
        mining = ce.clone()
        mining[pos] = -1.0  # never pick a positive as a negative
        rank = mining.argsort(dim=1, descending=True).argsort(dim=1)
        num_neg = (pos.sum(dim=1, keepdim=True) * neg_pos_ratio).clamp(min=neg_pos_ratio,
                                                                       max=labels_t.shape[1] - 1)
        neg = rank < num_neg
    conf_loss = ce[pos | neg].sum()
    return LossParts((loc_loss + conf_loss) / num_pos, loc_loss / num_pos, conf_loss / num_pos)
