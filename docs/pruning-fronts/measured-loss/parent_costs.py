"""Every layer's next LUT-step cluster in the SSD-MobileNet parent: the LUT's time saved, its filters' mean
normalised L2 importance, the detection-loss rise its removal causes and the output distance it causes
(32 training images, no fine-tune).

    PYTHONPATH=. .venv/bin/python docs/pruning-fronts/measured-loss/parent_costs.py > mobilenet-parent-costs.txt
"""

import torch

from models.scoring import load_dataset
from pruning import checkpoint
from pruning.prune.clusters import lut_candidate
from pruning.prune.finetune import split_validation
from pruning.prune.importance import WeightNorm
from pruning.prune.lut import LayerLatency
from pruning.prune.sensitivity import LossProbe, calibration_batches
from pruning.prune.surgery import groups_of
from pruning.structure import build_graph, to_spec

torch.set_num_threads(1)  # beside a running prune
model, config = checkpoint.load_model("pruning/checkpoints/ssd-mobilenet.pt")
annotations = load_dataset("data/vtest-ref", "train", {v: k for k, v in dict(config.labels).items()})
train, _ = split_validation(annotations, 5, 60)  # the loop's split (--val-every 5 --val-images 60)
batches = calibration_batches(train, model.eval(), 32, 8, 0)
table = LayerLatency.load("docs/pruning-luts/ssd-mobilenet-2threads-avx512.lut.json",
                          to_spec(build_graph(model, config.arch), config.arch), 8)
loss, outputs = LossProbe(batches, config.arch, "loss"), LossProbe(batches, config.arch, "outputs")
loss_cost, outputs_cost = loss.costs(model), outputs.costs(model)
for name, group in groups_of(model, config.arch).items():
    cand = lut_candidate(group, WeightNorm(2)(group), table, 8)
    if cand is None:
        continue
    loss_cost(cand), outputs_cost(cand)
    key = (name, cand.width_before)
    print(f"{name:28s} {cand.width_before:4d} -> {cand.width_after:4d}  saves {cand.gain:.4f} ms  "
          f"importance/filter {cand.importance_lost / len(cand.dropped):.4f}  loss rise {loss.cache[key]:+.4f}  "
          f"output distance {outputs.cache[key]:.4f}")
