"""The content classifier and reward shared by the `video-content` and `fashion-content` metrics.

ContentCNN is a third architecture, different from the guidance and evaluator classifiers of both
bundle families: strided 3x3 convs with BatchNorm, one residual block, global average + max
pooling. It is trained on the t10k split only (the other classifiers train on the train split),
so it shares neither weights, architecture nor training images with the rewards it checks."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

LOGP_MIN = -10.0


class ContentCNN(nn.Module):
    """Works on any input size (28x28 images, 32x32 canvas frames)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.b0 = nn.BatchNorm2d(16)
        self.down1 = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(32)
        self.r1 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.br1 = nn.BatchNorm2d(32)
        self.r2 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.br2 = nn.BatchNorm2d(32)
        self.down2 = nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(64)
        self.fc = nn.Linear(128, 10)

    def features(self, x: Tensor) -> Tensor:
        h = F.relu(self.b0(self.stem(x)))
        h = F.relu(self.b1(self.down1(h)))
        h = F.relu(h + self.br2(self.r2(F.relu(self.br1(self.r1(h))))))
        h = F.relu(self.b2(self.down2(h)))
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


class ContentReward(nn.Module):
    """score = mean over frames of max(log p(prompted class), -10); 0 for the null prompt.
    pixels: images [B,1,H,W] or clips [B,1,F,H,W] in [0,1]; cond [B,D] with the class one-hot in
    cond[:, :10] (the layout of both prompt encoders). Attributes are ignored."""

    def __init__(self, clf: nn.Module):
        super().__init__()
        self.clf = clf
        self.logp_min = LOGP_MIN

    def frames(self, pixels: Tensor) -> Tensor:
        """[B,1,H,W] -> [B,1,1,H,W]; clips as they are (float32, clamped to [0,1])."""
        x = pixels.to(torch.float32).clamp(0.0, 1.0)
        if x.dim() == 4:
            x = x.unsqueeze(2)
        return x

    def forward(self, pixels: Tensor, cond: Tensor) -> Tensor:
        x = self.frames(pixels)
        B, Fr = x.shape[0], x.shape[2]
        flat = x.transpose(1, 2).reshape(B * Fr, x.shape[1], x.shape[3], x.shape[4])
        logp = F.log_softmax(self.clf(flat), dim=1).clamp(min=self.logp_min).view(B, Fr, 10)
        onehot = cond[:, :10].to(device=x.device, dtype=torch.float32)
        return (logp * onehot[:, None, :]).sum(dim=2).mean(dim=1)

    @torch.jit.export
    def features(self, pixels: Tensor) -> Tensor:
        """Mean over frames of the classifier's pooled features [B,128]."""
        x = self.frames(pixels)
        B, Fr = x.shape[0], x.shape[2]
        flat = x.transpose(1, 2).reshape(B * Fr, x.shape[1], x.shape[3], x.shape[4])
        return self.clf.features(flat).view(B, Fr, -1).mean(dim=1)
