"""DPT head with temporal modules (``head.*`` keys): reassemble ViT tokens, fuse scales, predict depth."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.models.vda.dinov2 import PATCH_SIZE
from core.models.vda.motion_module import TemporalModule
from core.models.vda.stream_cache import LayerCache, StreamCache

_HEAD_CHANNELS = 32  # width of the last convs


def _upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class ResidualConvUnit(nn.Module):
    """x + conv(relu(conv(relu(x)))), 3x3 convs with bias, no batch norm."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(F.relu(x)))) + x


class FeatureFusionBlock(nn.Module):
    """Adds the refined skip feature, refines, upsamples (bilinear, align_corners=True), 1x1 conv."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor | None = None, size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """(N, F, h, w) [+ skip (N, F, h, w)] -> (N, F, *size), or twice the size when ``size`` is None."""
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        if size is None:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            x = _upsample(x, size)
        return self.out_conv(x)


class Scratch(nn.Module):
    """``head.scratch``: per-level 3x3 projections to ``features`` channels, fusion blocks, output convs."""

    def __init__(self, out_channels: list[int], features: int) -> None:
        super().__init__()
        self.layer1_rn = nn.Conv2d(out_channels[0], features, 3, padding=1, bias=False)
        self.layer2_rn = nn.Conv2d(out_channels[1], features, 3, padding=1, bias=False)
        self.layer3_rn = nn.Conv2d(out_channels[2], features, 3, padding=1, bias=False)
        self.layer4_rn = nn.Conv2d(out_channels[3], features, 3, padding=1, bias=False)
        self.refinenet1 = FeatureFusionBlock(features)
        self.refinenet2 = FeatureFusionBlock(features)
        self.refinenet3 = FeatureFusionBlock(features)
        self.refinenet4 = FeatureFusionBlock(features)
        self.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, _HEAD_CHANNELS, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(_HEAD_CHANNELS, 1, 1),
            nn.ReLU(),
        )


class DPTHeadTemporal(nn.Module):
    """DPT decoder with temporal modules on the two coarsest levels and after refinenet4 and refinenet3."""

    def __init__(self, embed_dim: int, features: int, out_channels: list[int]) -> None:
        super().__init__()
        self.projects = nn.ModuleList(nn.Conv2d(embed_dim, c, 1) for c in out_channels)
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(out_channels[0], out_channels[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(out_channels[1], out_channels[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(out_channels[3], out_channels[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(out_channels, features)
        self.motion_modules = nn.ModuleList(
            [
                TemporalModule(out_channels[2]),
                TemporalModule(out_channels[3]),
                TemporalModule(features),
                TemporalModule(features),
            ]
        )

    def forward(
        self, features: list[torch.Tensor], grid_h: int, grid_w: int, frames: int, cache: StreamCache | None = None
    ) -> torch.Tensor:
        """Four (B*T, h*w, D) token maps of clips of ``frames`` frames -> depth (B*T, 1, 14h, 14w), before the
        final ReLU. ``temporal`` then ``per_frame``.
        """
        return self.per_frame(*self.temporal(features, grid_h, grid_w, frames, cache), grid_h, grid_w)

    def _module_caches(self, cache: StreamCache | None) -> list[list[LayerCache] | None]:
        """Per temporal module, its slice of the stream's layer caches (None each without a cache)."""
        if cache is None:
            return [None] * len(self.motion_modules)
        out, offset = [], 0
        for module in self.motion_modules:
            out.append([cache.layer(offset + j) for j in range(module.attention_layers)])
            offset += module.attention_layers
        return out

    def temporal(
        self,
        features: list[torch.Tensor],
        grid_h: int,
        grid_w: int,
        frames: int,
        cache: StreamCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The stages that mix frames (up to the last temporal module), at 1/14 to 4/14 of the input size.

        Returns ``(path_3, layer_2_rn, layer_1_rn)``, each (B*T, features, h_i, w_i): what ``per_frame`` needs.
        With ``cache`` (streaming mode, ``frames`` = 1) the temporal modules attend to the cached earlier frames
        and enter this frame into the cache.
        """
        caches = self._module_caches(cache)
        levels = []
        for i, tokens in enumerate(features):
            x = tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[-1], grid_h, grid_w)
            levels.append(self.resize_layers[i](self.projects[i](x)))
        layer_1, layer_2, layer_3, layer_4 = levels
        layer_3 = self.motion_modules[0](layer_3, frames, caches[0])
        layer_4 = self.motion_modules[1](layer_4, frames, caches[1])

        scratch = self.scratch
        layer_1_rn = scratch.layer1_rn(layer_1)
        layer_2_rn = scratch.layer2_rn(layer_2)
        layer_3_rn = scratch.layer3_rn(layer_3)
        layer_4_rn = scratch.layer4_rn(layer_4)

        path_4 = scratch.refinenet4(layer_4_rn, size=layer_3_rn.shape[2:])
        path_4 = self.motion_modules[2](path_4, frames, caches[2])
        path_3 = scratch.refinenet3(path_4, layer_3_rn, size=layer_2_rn.shape[2:])
        path_3 = self.motion_modules[3](path_3, frames, caches[3])
        return path_3, layer_2_rn, layer_1_rn

    def per_frame(
        self, path_3: torch.Tensor, layer_2_rn: torch.Tensor, layer_1_rn: torch.Tensor, grid_h: int, grid_w: int
    ) -> torch.Tensor:
        """The remaining stages, each frame on its own, up to full resolution: (N, 1, 14h, 14w).

        They hold the largest activations (full-resolution feature maps), and since no frame depends on another
        here, a caller may run them on any slice of frames. The last two convs run in float32 with autocast
        disabled, as in the reference (their weights' dtype when the whole model was cast with ``model.to(dtype)``).
        """
        scratch = self.scratch
        path_2 = scratch.refinenet2(path_3, layer_2_rn, size=layer_1_rn.shape[2:])
        path_1 = scratch.refinenet1(path_2, layer_1_rn)

        out = _upsample(scratch.output_conv1(path_1), (grid_h * PATCH_SIZE, grid_w * PATCH_SIZE))
        compute_dtype = out.dtype
        final_dtype = scratch.output_conv2[0].weight.dtype
        with torch.autocast(device_type=out.device.type, enabled=False):
            out = scratch.output_conv2(out.to(final_dtype))
        return out.to(compute_dtype)
