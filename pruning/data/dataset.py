"""A torch Dataset over VOC annotations: augmented for training, plain for evaluation."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from models.scoring import Annotation, DatasetError
from pruning.data.transforms import augment, normalise_boxes, to_tensor


def read_image(path: str) -> np.ndarray:
    image = cv2.imread(path)
    if image is None:
        raise DatasetError(f"{path}: image missing or unreadable")
    return image


class DetectionDataset(Dataset):
    """Items are (image tensor (3,H,W), boxes (G,4) normalised corners, labels (G,))."""

    def __init__(self, annotations: list[Annotation], input_size: tuple[int, int], train: bool,
                 seed: int = 0, max_expand: float = 2.0) -> None:
        self.annotations = annotations
        self.input_size = input_size
        self.train = train
        self.seed = seed
        self.max_expand = max_expand
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.annotations)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ann = self.annotations[index]
        image = read_image(str(ann.image))
        boxes, labels = ann.boxes[~ann.difficult], ann.labels[~ann.difficult]
        if self.train:
            # Deterministic per (seed, epoch, index): a resumed run sees the same augmentations.
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image, boxes, labels = augment(image, boxes, labels, rng, self.max_expand)
        h, w = image.shape[:2]
        return to_tensor(image, self.input_size), normalise_boxes(boxes, w, h), torch.from_numpy(labels)


def collate(batch: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
            ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    images, boxes, labels = zip(*batch, strict=True)
    return torch.stack(images), list(boxes), list(labels)
