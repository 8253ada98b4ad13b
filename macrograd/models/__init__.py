"""`mg.models`: the classic CNNs, each in one file with its paper and its idea in the docstring.

    from macrograd import models
    models.list_models()                                   # ['alexnet', 'densenet_bc40', ...]
    net = models.get_model("resnet20", num_classes=10)     # or models.resnet20(num_classes=10)
    models.summary(net, (1, 3, 32, 32))

Every builder takes `num_classes` and `in_channels` and works on 1x28x28 and 3x32x32 images
(the U-Net gives per-pixel scores of the input's size). Every builder also takes `nn=`: the
namespace the model is built from, macrograd.nn by default; `nn=torch.nn` builds the identical
PyTorch model (same code, same state_dict keys) - the tests use it as the oracle. See _family.py.
"""
from __future__ import annotations

from .alexnet import AlexNet, alexnet
from .densenet import DenseNet, densenet121, densenet_bc40
from .inception import GoogLeNet, Inception, googlenet
from .lenet import LeNet5, lenet5
from .mlp import MLP, mlp
from .mobilenet import InvertedResidual, MobileNet, SqueezeExcitation, efficientnet_small, mobilenet_v2
from .resnet import BasicBlock, Bottleneck, CifarResNet, ResNet, resnet18, resnet20, resnet34, resnet50
from .summary import ModelSummary, count_parameters, flops, summary
from .unet import UNet, unet
from .vgg import VGG, vgg11, vgg13, vgg16, vgg19
from .vit import ViT, vit
# language models: built from a config, not image classifiers, so not in the registry below
from .bert import BertConfig, BertForSequenceClassification, BertModel
from .gpt import GPT, GPTConfig
from .seq2seq_transformer import Seq2SeqTransformer
from .captioner import ImageCaptioner
# generative models: not classifiers either
from .diffusion import EMA, NoiseSchedule, ddim_sample, ddpm_sample
from .diffusion_unet import DiffusionUNet, diffusion_unet
from .gan import dcgan_discriminator, dcgan_generator, dcgan_init_
from .vae import ConvVAE, conv_vae, negative_elbo

# The registry: name -> builder. Each builder takes num_classes, in_channels and nn (plus its own
# options; mlp and lenet5 also take image_size); all run on 28- and 32-pixel images.
# densenet121 is a builder but not registered: its ImageNet stem downsamples a 28-pixel image
# to nothing.
_REGISTRY = {
    "mlp": mlp,
    "lenet5": lenet5,
    "alexnet": alexnet,
    "vgg11": vgg11,
    "vgg13": vgg13,
    "vgg16": vgg16,
    "vgg19": vgg19,
    "googlenet": googlenet,
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet20": resnet20,
    "densenet_bc40": densenet_bc40,
    "mobilenet_v2": mobilenet_v2,
    "efficientnet_small": efficientnet_small,
    "unet": unet,
    "vit": vit,
}


def list_models() -> list:
    """The names get_model accepts, sorted."""
    return sorted(_REGISTRY)


def get_model(name: str, **kwargs):
    """Build the registered model `name` with the builder's keyword arguments, e.g.
    get_model("vgg16", num_classes=10, batch_norm=True, width_mult=0.5)."""
    if name not in _REGISTRY:
        raise ValueError(f"get_model: unknown model {name!r}; available: {', '.join(list_models())}")
    return _REGISTRY[name](**kwargs)


__all__ = [
    "get_model", "list_models", "count_parameters", "flops", "summary", "ModelSummary",
    "mlp", "MLP", "lenet5", "LeNet5", "alexnet", "AlexNet", "vgg11", "vgg13", "vgg16", "vgg19", "VGG",
    "googlenet", "GoogLeNet", "Inception", "resnet18", "resnet34", "resnet50", "resnet20", "ResNet",
    "CifarResNet", "BasicBlock", "Bottleneck", "densenet_bc40", "densenet121", "DenseNet",
    "mobilenet_v2", "efficientnet_small", "MobileNet", "InvertedResidual", "SqueezeExcitation",
    "unet", "UNet", "vit", "ViT",
    "GPT", "GPTConfig", "BertConfig", "BertModel", "BertForSequenceClassification", "Seq2SeqTransformer",
    "ImageCaptioner",
    "ConvVAE", "conv_vae", "negative_elbo", "dcgan_generator", "dcgan_discriminator", "dcgan_init_",
    "DiffusionUNet", "diffusion_unet", "NoiseSchedule", "EMA", "ddpm_sample", "ddim_sample",
]
