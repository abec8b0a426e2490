package pytorch

// Scripts as the projects write them, cut down to what the plugin reads:
// imports, the parser's definitions, nanoGPT's globals.
const (
	// timmTrain is timm's train.py: its flags defined the way timm defines
	// them, in argument groups, with timm's defaults.
	timmTrain = `#!/usr/bin/env python3
""" ImageNet Training Script """
import argparse
import logging
import os

import torch
import torch.nn as nn
import yaml

import timm
from timm import utils
from timm.models import create_model

config_parser = parser = argparse.ArgumentParser(description='Training Config', add_help=False)
parser.add_argument('-c', '--config', default='', type=str, metavar='FILE',
                    help='YAML config file specifying default arguments')

parser = argparse.ArgumentParser(description='PyTorch ImageNet Training')

group = parser.add_argument_group('Dataset parameters')
parser.add_argument('data', nargs='?', metavar='DIR', const=None,
                    help='path to dataset (positional is *deprecated*, use --data-dir)')
group.add_argument('--data-dir', metavar='DIR',
                   help='path to dataset (root dir)')

group = parser.add_argument_group('Model parameters')
group.add_argument('--model', default='resnet50', type=str, metavar='MODEL',
                   help='Name of model to train (default: "resnet50")')
group.add_argument('--grad-checkpointing', action='store_true', default=False,
                   help='Enable gradient checkpointing through model blocks/stages')
group.add_argument('-b', '--batch-size', type=int, default=128, metavar='N',
                   help='Input batch size for training (default: 128)')
group.add_argument('-vb', '--validation-batch-size', type=int, default=None, metavar='N',
                   help='Validation batch size override (default: None)')

group = parser.add_argument_group('Optimizer parameters')
group.add_argument('--opt', default='sgd', type=str, metavar='OPTIMIZER',
                   help='Optimizer (default: "sgd")')

group = parser.add_argument_group('Miscellaneous parameters')
group.add_argument('--amp', action='store_true', default=False,
                   help='use NVIDIA Apex AMP or Native AMP for mixed precision training')
group.add_argument('--amp-dtype', default='float16', type=str,
                   help='lower precision AMP dtype (default: float16)')
group.add_argument('--grad-accum-steps', type=int, default=1, metavar='N',
                   help='The number of steps to accumulate gradients (default: 1)')


def main():
    args = parser.parse_args()
    model = create_model(args.model)
`

	// timmDistributed is timm's distributed_train.sh.
	timmDistributed = `#!/bin/bash
NUM_PROC=$1
shift
torchrun --nproc_per_node=$NUM_PROC train.py "$@"
`

	// torchvisionTrain is torchvision's references/classification/train.py:
	// -b/--batch-size per GPU and an --amp switch with no dtype option.
	torchvisionTrain = `import datetime
import os
import time

import torch
import torch.utils.data
import torchvision
import utils
from torch import nn


def get_args_parser(add_help=True):
    import argparse

    parser = argparse.ArgumentParser(description="PyTorch Classification Training", add_help=add_help)

    parser.add_argument("--data-path", default="/datasets01/imagenet_full_size/061417/", type=str, help="dataset path")
    parser.add_argument("--model", default="resnet18", type=str, help="model name")
    parser.add_argument(
        "-b", "--batch-size", default=32, type=int, help="images per gpu, the total batch size is $NGPU x batch_size"
    )
    parser.add_argument("--epochs", default=90, type=int, metavar="N", help="number of total epochs to run")
    parser.add_argument(
        "-j", "--workers", default=16, type=int, metavar="N", help="number of data loading workers (default: 16)"
    )
    parser.add_argument("--opt", default="sgd", type=str, help="optimizer")
    parser.add_argument("--lr", default=0.1, type=float, help="initial learning rate")
    # Mixed precision training parameters
    parser.add_argument("--amp", action="store_true", help="Use torch.cuda.amp for mixed precision training")
    return parser


if __name__ == "__main__":
    args = get_args_parser().parse_args()
`

	// plainNoImports is a Python script that imports nothing the plugin
	// knows.
	plainNoImports = `import argparse
import numpy as np
parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=8)
`
)
