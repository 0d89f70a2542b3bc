"""Content classifier of the image bundles' `fashion-content` metric: ContentCNN on the 10k t10k
images only (random +-2 px shifts), seed 555. The guidance and evaluator classifiers of those
bundles trained on the 60k train split, which is this net's held-out set."""
import torch

import common as C
import content_common as CC
from train_frame_clf import fit

if __name__ == "__main__":
    args = C.train_args("train the image content classifier", iters=1500, batch=128, lr=2e-3, seed=555)
    C.setup_threads()
    torch.manual_seed(args.seed)
    dev = C.pick_device()
    x, y = C.load_fashion("test")
    held_x, held_y = C.load_fashion("train")

    def sample(n):
        idx = torch.randint(0, x.shape[0], (n,))
        return C.random_shift(x[idx], 2), y[idx]

    fit("image_content_clf", CC.ContentCNN(), sample, held_x, held_y, args, dev, label_smoothing=0.0)
