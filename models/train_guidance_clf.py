"""Guidance classifier (GuidanceCNN, 3x3 convs + global average pooling), seed 1."""
import common as C
from train_classifier import run

if __name__ == "__main__":
    run("guidance_clf", C.GuidanceCNN, seed=1, iters=3000, batch=256, lr=2e-3, label_smoothing=0.05)
