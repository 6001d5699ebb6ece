"""Hand-written PyTorch reference implementations of the bundled specs.

These are the models the specs in ``specs/`` claim to be, written the way their
authors wrote them, so that tests and benchmarks can compare a compiled spec
with an independent implementation:

- torchvision's ResNet (``BasicBlock``, ``Bottleneck`` v1.5, ``resnet18`` ...
  ``resnet152``), with torchvision's module names, so that the ``state_dict``
  keys equal ``tests/data/torchvision_resnet.json`` in order;
- the CIFAR ResNets of He et al. 2015 (option A zero-padding shortcut, option B
  projection shortcut, and the plain, skip-free baseline);
- the pre-activation ResNet of He et al. 2016 for CIFAR, in the official
  (KaimingHe/resnet-1k-layers) design;
- milesial/Pytorch-UNet's ``UNet`` (``bilinear=False`` and ``True``);
- the original U-Net of Ronneberger et al. 2015 (valid convs, centre crop).

It also implements the deterministic fill and input procedures
(``fill_state_dict``, ``reference_input``) with which the ``check`` entry of
``tests/data/torchvision_resnet.json`` (torchvision 0.28.0's resnet18) was
computed.

Nothing here depends on resdsl: this file must stay an independent witness.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "CifarBasicBlock",
    "CifarResNet",
    "OriginalUNet",
    "PreActBottleneck",
    "PreActResNet",
    "ResNet",
    "UNet",
    "cifar_resnet",
    "count_parameters",
    "fill_state_dict",
    "preact_resnet164",
    "preact_resnet1001",
    "reference_input",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
]


# ------------------------------------------------------- deterministic procedures


def fill_state_dict(model: nn.Module, seed: int) -> nn.Module:
    """Fill ``model``'s state in place with the deterministic fill procedure.

    One generator seeded with ``seed``; keys walked in sorted order; each
    floating-point tensor gets a value chosen by its leaf name and rank (first
    match wins): ``running_var`` and 1-D ``weight`` ``rand + 0.5``;
    ``running_mean`` and other 1-D tensors ``randn * 0.1``; everything else
    ``randn * sqrt(2 / fan_in)``. Integer tensors (``num_batches_tracked``) are
    left alone. Returns ``model``.
    """
    g = torch.Generator().manual_seed(seed)
    state = model.state_dict()
    with torch.no_grad():
        for key in sorted(state):
            t = state[key]
            if not t.is_floating_point():
                continue
            leaf = key.rsplit(".", 1)[-1]
            if leaf == "running_var":
                value = torch.rand(t.shape, generator=g) + 0.5
            elif leaf == "running_mean":
                value = torch.randn(t.shape, generator=g) * 0.1
            elif t.dim() == 1 and leaf == "weight":
                value = torch.rand(t.shape, generator=g) + 0.5
            elif t.dim() == 1:
                value = torch.randn(t.shape, generator=g) * 0.1
            else:
                fan_in = t.numel() // t.shape[0]
                value = torch.randn(t.shape, generator=g) * math.sqrt(2 / fan_in)
            t.copy_(value)
    return model


def reference_input(shape: Sequence[int], seed: int) -> Tensor:
    """The deterministic input procedure: ``randn(shape)`` from a fresh generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(list(shape), generator=g)


def count_parameters(model: nn.Module) -> int:
    """``sum(p.numel() for p in model.parameters())``, as the reference numbers count."""
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------ torchvision ResNet


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision's bottleneck "v1.5": the stride sits on the 3x3 conv (``conv2``)."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(
        self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers.extend(block(self.inplanes, planes) for _ in range(1, blocks))
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet18(num_classes: int = 1000) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


def resnet101(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes)


def resnet152(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes)


# ------------------------------------------------------ CIFAR ResNet (He et al. 2015)


class ZeroPadShortcut(nn.Module):
    """Option A: subsample with ``x[:, :, ::s, ::s]``, zero-pad the new channels evenly.

    For the CIFAR ResNets the padding is ``planes // 4`` channels on each side
    (16 -> 32 and 32 -> 64), as in the common implementation.
    """

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = planes - in_planes
        self.pad_before = extra // 2
        self.pad_after = extra - extra // 2

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_before, self.pad_after))


class CifarBasicBlock(nn.Module):
    """A basic block with shortcut option ``"A"`` (zero-pad), ``"B"`` (projection where
    the shape changes) or ``"plain"`` (no shortcut: the plain baseline)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, option: str = "A") -> None:
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.option = option
        self.shortcut: nn.Module = nn.Identity()
        if option == "plain":
            pass
        elif stride != 1 or in_planes != planes:
            if option == "A":
                self.shortcut = ZeroPadShortcut(in_planes, planes, stride)
            elif option == "B":
                self.shortcut = nn.Sequential(
                    conv1x1(in_planes, planes, stride), nn.BatchNorm2d(planes)
                )
            else:
                raise ValueError(f"unknown shortcut option {option!r}")

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.option != "plain":
            out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    """Depth 6n+2: stem conv3x3 3->16, stages of n blocks at 16/32/64, avg pool, linear."""

    def __init__(self, n: int, option: str = "A", num_classes: int = 10) -> None:
        super().__init__()
        self.in_planes = 16
        self.conv1 = conv3x3(3, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(16, n, 1, option)
        self.layer2 = self._make_layer(32, n, 2, option)
        self.layer3 = self._make_layer(64, n, 2, option)
        self.fc = nn.Linear(64, num_classes)

    def _make_layer(self, planes: int, n: int, stride: int, option: str) -> nn.Sequential:
        blocks = []
        for s in [stride] + [1] * (n - 1):
            blocks.append(CifarBasicBlock(self.in_planes, planes, s, option))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


def cifar_resnet(depth: int, option: str = "A", num_classes: int = 10) -> CifarResNet:
    """ResNet-20/32/44/56/110 (or any depth 6n+2); ``option`` is "A", "B" or "plain"."""
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
    return CifarResNet((depth - 2) // 6, option, num_classes)


# ----------------------------------------- pre-activation ResNet (He et al. 2016)


class PreActBottleneck(nn.Module):
    """A pre-activation bottleneck unit of the official CIFAR design.

    The first unit of a stage (``in_planes != 4 * planes``) applies one BN -> ReLU
    that feeds both the residual branch and the 1x1 projection shortcut (a conv,
    no BN); the stride sits on the first 1x1 conv in both. Other units add their
    raw input. There is no ReLU after the addition.
    """

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.shortcut: nn.Sequential | None = None
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """Depth 9n+2: stem conv3x3 3->16, three stages of n bottleneck units with
    outputs 64/128/256 (strides 1/2/2), then BN -> ReLU -> avg pool -> linear."""

    def __init__(self, n: int, num_classes: int = 10) -> None:
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.layer1 = self._make_layer(16, n, 1)
        self.layer2 = self._make_layer(32, n, 2)
        self.layer3 = self._make_layer(64, n, 2)
        self.bn = nn.BatchNorm2d(self.in_planes)
        self.fc = nn.Linear(self.in_planes, num_classes)

    def _make_layer(self, planes: int, n: int, stride: int) -> nn.Sequential:
        units = []
        for s in [stride] + [1] * (n - 1):
            units.append(PreActBottleneck(self.in_planes, planes, s))
            self.in_planes = planes * PreActBottleneck.expansion
        return nn.Sequential(*units)

    def forward(self, x: Tensor) -> Tensor:
        out = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        out = F.relu(self.bn(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


def preact_resnet164(num_classes: int = 10) -> PreActResNet:
    return PreActResNet(18, num_classes)


def preact_resnet1001(num_classes: int = 10) -> PreActResNet:
    return PreActResNet(111, num_classes)


# ------------------------------------------------------- milesial/Pytorch-UNet


class DoubleConv(nn.Module):
    """(convolution => [BN] => ReLU) * 2"""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None):
        super().__init__()
        if not mid_channels:
            mid_channels = out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.double_conv(x)


class Down(nn.Module):
    """Downscaling with maxpool then double conv"""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x: Tensor) -> Tensor:
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Upscaling then double conv"""

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool = True) -> None:
        super().__init__()
        self.up: nn.Module
        # if bilinear, use the normal convolutions to reduce the number of channels
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        x1 = self.up(x1)
        # input is CHW
        diff_y = x2.size()[2] - x1.size()[2]
        diff_x = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)


class OutConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class UNet(nn.Module):
    """milesial/Pytorch-UNet's ``UNet(n_channels, n_classes, bilinear)``."""

    def __init__(self, n_channels: int = 3, n_classes: int = 2, bilinear: bool = False) -> None:
        super().__init__()
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.bilinear = bilinear

        self.inc = DoubleConv(n_channels, 64)
        self.down1 = Down(64, 128)
        self.down2 = Down(128, 256)
        self.down3 = Down(256, 512)
        factor = 2 if bilinear else 1
        self.down4 = Down(512, 1024 // factor)
        self.up1 = Up(1024, 512 // factor, bilinear)
        self.up2 = Up(512, 256 // factor, bilinear)
        self.up3 = Up(256, 128 // factor, bilinear)
        self.up4 = Up(128, 64, bilinear)
        self.outc = OutConv(64, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


# ------------------------------------------- original U-Net (Ronneberger et al. 2015)


def center_crop(x: Tensor, size: Sequence[int]) -> Tensor:
    """Centre-crop the last two dimensions of ``x`` to ``size``, ``diff // 2`` off the start."""
    h, w = x.shape[-2:]
    top = (h - size[0]) // 2
    left = (w - size[1]) // 2
    return x[..., top : top + size[0], left : left + size[1]]


class ValidDoubleConv(nn.Module):
    """(unpadded 3x3 conv with bias => ReLU) * 2: each one trims 2 pixels."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.double_conv(x)


class ValidDown(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(
            nn.MaxPool2d(2), ValidDoubleConv(in_channels, out_channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.maxpool_conv(x)


class CropUp(nn.Module):
    """2x2 up-convolution halving the channels, centre-crop the skip, concat, double conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = ValidDoubleConv(in_channels, out_channels)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        x1 = self.up(x1)
        x2 = center_crop(x2, x1.shape[-2:])
        return self.conv(torch.cat([x2, x1], dim=1))


class OriginalUNet(nn.Module):
    """Ronneberger et al. 2015, Fig. 1: a 572x572 input tile gives a 388x388 output map.

    The paper's drop-out at the end of the contracting path is parameter-free and
    inactive in eval mode; it is left out.
    """

    def __init__(self, n_channels: int = 1, n_classes: int = 2) -> None:
        super().__init__()
        self.inc = ValidDoubleConv(n_channels, 64)
        self.down1 = ValidDown(64, 128)
        self.down2 = ValidDown(128, 256)
        self.down3 = ValidDown(256, 512)
        self.down4 = ValidDown(512, 1024)
        self.up1 = CropUp(1024, 512)
        self.up2 = CropUp(512, 256)
        self.up3 = CropUp(256, 128)
        self.up4 = CropUp(128, 64)
        self.outc = OutConv(64, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


# --------------------------------------------------------- specs <-> references


# Every bundled spec file, its models, and the reference constructor each one
# must equal (parameters, state_dict keys and shapes in order, outputs).
# --------------------------------------------------------------------- ReZero


class Gate(nn.Module):
    """ReZero's alpha: one learnable scalar, initialised to 0."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = nn.Parameter(torch.zeros(()))


class ReZeroBlock(nn.Module):
    """Bachlechner et al.'s residual block, x + alpha * F(x), written out by hand."""

    def __init__(self, planes: int, norm: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes) if norm else nn.Identity()
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes) if norm else nn.Identity()
        self.rezero = Gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.rezero.gate * out + x


class Stem(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class ReZeroNet(nn.Module):
    """An independent reference for rezero.res's ``rezero_net``, with its module names.

    ``ReZeroNet(9)`` is ``rezero20``, ``ReZeroNet(54)`` is ``rezero110``,
    ``ReZeroNet(9, norm=False)`` is ``rezero20_nonorm``: the same
    ``state_dict`` keys, in the same order.
    """

    def __init__(self, n: int, width: int = 16, norm: bool = True, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = Stem(width)
        self.blocks = nn.Sequential(*(ReZeroBlock(width, norm) for _ in range(n)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.blocks(self.stem(x))), 1))


SPEC_MODELS: dict[str, dict[str, Callable[[], nn.Module]]] = {
    "resnet.res": {
        "resnet18": resnet18,
        "resnet34": resnet34,
        "resnet50": resnet50,
        "resnet101": resnet101,
        "resnet152": resnet152,
    },
    "cifar_resnet.res": {
        "resnet20": lambda: cifar_resnet(20),
        "resnet32": lambda: cifar_resnet(32),
        "resnet44": lambda: cifar_resnet(44),
        "resnet56": lambda: cifar_resnet(56),
        "resnet110": lambda: cifar_resnet(110),
    },
    "plain_resnet.res": {
        "plain20": lambda: cifar_resnet(20, "plain"),
        "plain32": lambda: cifar_resnet(32, "plain"),
        "plain44": lambda: cifar_resnet(44, "plain"),
        "plain56": lambda: cifar_resnet(56, "plain"),
        "plain110": lambda: cifar_resnet(110, "plain"),
    },
    "preact_resnet.res": {
        "preact_resnet164": preact_resnet164,
        "preact_resnet1001": preact_resnet1001,
    },
    "unet.res": {"unet": lambda: UNet(3, 2, bilinear=False)},
    "unet_noalign.res": {"unet_noalign": lambda: UNet(3, 2, bilinear=False)},
    "unet_original.res": {"unet_original": OriginalUNet},
    "rezero.res": {
        "rezero20": lambda: ReZeroNet(9),
        "rezero110": lambda: ReZeroNet(54),
        "rezero20_nonorm": lambda: ReZeroNet(9, norm=False),
    },
}

_UNET_DECODER_CONV = re.compile(r"^(up\d+)_conv\.")


def reference_key(spec_key: str) -> str:
    """The reference model's ``state_dict`` key for a compiled spec's key.

    The identity, except for the U-Nets' decoder double convs: a skip joins
    labels of one scope, so the specs write milesial's ``upN.conv`` (the double
    conv inside ``Up``, after the concatenation) as the model-level ``upN_conv``.
    """
    return _UNET_DECODER_CONV.sub(r"\1.conv.", spec_key)
