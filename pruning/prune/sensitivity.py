"""Measured sensitivity: what removing a candidate cluster costs the network, measured on fixed images.

Filter importance (weight norms, Taylor) is normalised per layer, so it orders the filters of one layer
well and compares layers only roughly: a filter's share of its layer is about 1/width anywhere, which
let the hybrid cut the student's narrow early layers (that the network cannot lose) and SSD-MobileNet's
wide deep ones (that it needs) as readily as any other. NetAdapt's answer is to ask the network itself:
remove the candidate from a copy of the model and measure it on fixed images, no fine-tune: the rise
in detection loss (`kind` "loss"), or how far the outputs move from the current model's ("outputs", the
distillation distance, which a few images cannot make negative). Either is in one unit across layers,
and divided by the LUT's time saved it is the cost of a millisecond in every layer alike. Measured on
the deployed student it did worse than importance at depth: the loss right after a removal favours
cutting a few layers deep, which the fine-tunes do not repair (docs/pruning-journal.md,
"Measured loss in place of importance"); it stays an option, off by default.

`LossProbe` holds a fixed calibration set (images with their anchor targets matched once: anchors do not
change with pruning) and caches each measurement per (layer, width): a step re-measures only the layers
it changed (plus the current model once), and `forget()` empties the cache after every fine-tune, when
every layer has moved. A resumed run starts with an empty cache.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from models.scoring import Annotation
from pruning.distill import output_distance
from pruning.prune.clusters import Candidate
from pruning.prune.surgery import groups_of, prune_group
from pruning.ssd.loss import multibox_loss
from pruning.ssd.matching import match_batch
from pruning.ssd.ssd import SSD

CALIBRATION_KEY = 900_000
"""Loader key of the calibration set (fine-tunes use their step number, Taylor 500,000 + step)."""
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""(images, matched box targets, matched labels) on the CPU."""


def calibration_batches(annotations: list[Annotation], model: SSD, images: int, batch_size: int, seed: int
                        ) -> list[Batch]:
    """The first `images` of a fixed shuffle of `annotations`, unaugmented, with their targets matched."""
    from pruning.prune.finetune import FinetuneSettings, batches

    if images <= 0:
        raise ValueError(f"calibration images: {images}; give at least one")
    found: list[Batch] = []
    taken = 0
    for pixels, boxes, labels in batches(annotations, model, FinetuneSettings(batch_size, seed=seed),
                                         CALIBRATION_KEY, augment=False):
        keep = min(len(boxes), images - taken)
        found.append((pixels[:keep], *match_batch(boxes[:keep], labels[:keep], model.anchors)))
        taken += keep
        if taken >= images:
            break
    return found


Outputs = list[tuple[torch.Tensor, torch.Tensor]]
"""(loc, conf) of a model on each calibration batch."""


@dataclass
class LossProbe:
    """What removing a candidate cluster costs, measured on fixed images: `kind` "loss" is the rise in
    detection loss; "outputs" is how far the outputs move from the current model's (the distillation
    distance, `distill.output_distance`: never negative, so no removal looks like a gain)."""

    batches: list[Batch]
    arch: str
    kind: Literal["loss", "outputs"] = "loss"
    cache: dict[tuple[str, int], float] = field(default_factory=dict)
    """(layer, width before) -> cost of that layer's candidate, measured since the last `forget()`."""
    measured: int = 0
    """Candidates measured so far."""

    @torch.no_grad()
    def outputs(self, model: SSD) -> Outputs:
        """The model's outputs on the calibration batches (eval mode: BatchNorm statistics stay)."""
        was_training = model.training
        model.eval()
        try:
            return [model(images) for images, _, _ in self.batches]
        finally:
            model.train(was_training)

    def score(self, outputs: Outputs, reference: Outputs) -> float:
        """Mean over the images of the detection loss ("loss") or of the distance from `reference`."""
        total = 0.0
        for (loc, conf), (ref_loc, ref_conf), (images, loc_t, labels_t) in zip(outputs, reference, self.batches,
                                                                                strict=True):
            if self.kind == "loss":
                value = multibox_loss(loc, conf, loc_t, labels_t).total
            else:
                value = output_distance(ref_loc, ref_conf, loc, conf, (labels_t > 0).sum())
            total += float(value) * len(images)
        return total / sum(len(b[0]) for b in self.batches)

    def without(self, model: SSD, candidate: Candidate) -> Outputs:
        """The outputs of a copy of `model` without the candidate's filters (`model` is untouched)."""
        pruned = copy.deepcopy(model)
        prune_group(groups_of(pruned, self.arch)[candidate.group], candidate.dropped)
        return self.outputs(pruned)

    def costs(self, model: SSD) -> Callable[[Candidate], float]:
        """A cost function for `hybrid.cheapest_clusters`: each candidate's cost (score without it minus the
        current model's), cached per (layer, width). A fall counts as 0 (on a few images a removal can
        lower the loss; it is free, not a gain that outweighs time). The current model's outputs are
        computed once, when the first uncached candidate is measured."""
        reference: list[tuple[Outputs, float]] = []

        def cost(candidate: Candidate) -> float:
            key = (candidate.group, candidate.width_before)
            if key not in self.cache:
                if not reference:
                    outputs = self.outputs(model)
                    reference.append((outputs, self.score(outputs, outputs)))
                outputs, base = reference[0]
                self.cache[key] = self.score(self.without(model, candidate), outputs) - base
                self.measured += 1
            return max(self.cache[key], 0.0)

        return cost

    def forget(self) -> None:
        """Drop every cached measurement (after a fine-tune or a roll-back every layer has moved)."""
        self.cache.clear()
