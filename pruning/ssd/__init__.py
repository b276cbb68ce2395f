"""The SSD core shared by every backbone: anchors, box coding, matching, loss, decoding and NMS."""
