"""Datasets: Pascal VOC layout (read/write), teacher autolabelling, synthetic scenes, augmentation."""
