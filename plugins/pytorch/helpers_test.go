package pytorch

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

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

// files turns path, content pairs into a Files overlay.
func files(pairs ...string) map[string]string {
	out := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		out[pairs[i]] = pairs[i+1]
	}
	return out
}

// command builds a command whose files come only from the overlay: its
// working folder does not exist.
func command(argv string, overlay map[string]string) sdk.Command {
	cmd := sdk.Command{Argv: strings.Fields(argv), Env: map[string]string{"PATH": "/usr/bin"},
		Dir: "/nonexistent-vramrun-test-dir", Files: map[string][]byte{}}
	for p, c := range overlay {
		cmd.Files[p] = []byte(c)
	}
	return cmd
}

func recognize(t *testing.T, cmd sdk.Command) sdk.Recognition {
	t.Helper()
	before := cmd.Clone()
	rec, err := New().Recognize(context.Background(), cmd)
	if err != nil {
		t.Fatalf("Recognize(%q): %v", cmd.Argv, err)
	}
	if !reflect.DeepEqual(before, cmd) {
		t.Errorf("Recognize changed its input:\nbefore %+v\nafter  %+v", before, cmd)
	}
	return rec
}

func analyze(t *testing.T, cmd sdk.Command) sdk.Analysis {
	t.Helper()
	before := cmd.Clone()
	a, err := New().Analyze(context.Background(), cmd)
	if err != nil {
		t.Fatalf("Analyze(%q): %v", cmd.Argv, err)
	}
	if !reflect.DeepEqual(before, cmd) {
		t.Errorf("Analyze changed its input:\nbefore %+v\nafter  %+v", before, cmd)
	}
	if err := a.Validate(); err != nil {
		t.Errorf("Analyze(%q) gave an invalid analysis: %v", cmd.Argv, err)
	}
	return a
}

// apply applies fix and checks that the input command was left as it was.
func apply(t *testing.T, cmd sdk.Command, fix sdk.Fix) (sdk.Applied, error) {
	t.Helper()
	before := cmd.Clone()
	got, err := New().Apply(context.Background(), cmd, fix, "/copies")
	if !reflect.DeepEqual(before, cmd) {
		t.Errorf("Apply(%s) changed its input:\nbefore %+v\nafter  %+v", fix.ID, before, cmd)
	}
	return got, err
}

func mustApply(t *testing.T, cmd sdk.Command, fix sdk.Fix) sdk.Applied {
	t.Helper()
	got, err := apply(t, cmd, fix)
	if err != nil {
		t.Fatalf("Apply(%+v) to %q: %v", fix, cmd.Argv, err)
	}
	return got
}

// wantUnsupported checks that err is an *sdk.UnsupportedError for fix
// whose reason contains want.
func wantUnsupported(t *testing.T, err error, fix sdk.FixID, want string) {
	t.Helper()
	var unsupported *sdk.UnsupportedError
	if !errors.As(err, &unsupported) {
		t.Fatalf("Apply(%s) error = %v (%T), want *sdk.UnsupportedError", fix, err, err)
	}
	if unsupported.Fix != fix || !strings.Contains(unsupported.Reason, want) {
		t.Errorf("Apply(%s) = unsupported %s: %q, want %s with a reason containing %q", fix, unsupported.Fix, unsupported.Reason, fix, want)
	}
}

// planFix is the fix the planner could ask for, from the command's knobs:
// half the batch with twice the accumulation, half the evaluation batch,
// bf16.
func planFix(id sdk.FixID, k sdk.Knobs) sdk.Fix {
	half := func(v *int) int {
		if v == nil || *v < 2 {
			return 1
		}
		return *v / 2
	}
	fix := sdk.Fix{ID: id}
	switch id {
	case sdk.FixBatchSize:
		fix.BatchSize = half(k.BatchSize)
		if k.GradAccumulation != nil {
			fix.GradAccumulation = 2 * *k.GradAccumulation
		}
	case sdk.FixEvalBatchSize:
		fix.BatchSize = half(k.EvalBatchSize)
	case sdk.FixMixedPrecision:
		fix.Precision = "bf16"
	}
	return fix
}

// checkAgreement applies every fix id to cmd and checks Apply against
// Analyze: a fix Analyze lists as unsupported returns an
// *sdk.UnsupportedError with the same reason, any other applies; an applied
// fix keeps everything before the script byte for byte.
func checkAgreement(t *testing.T, cmd sdk.Command) {
	t.Helper()
	a := analyze(t, cmd)
	inv, err := cmdline.Parse(cmd.Argv)
	if err != nil {
		t.Fatalf("cmdline.Parse(%q): %v", cmd.Argv, err)
	}
	head := cmd.Argv[:inv.ScriptIndex+1]
	for _, id := range sdk.AllFixes() {
		fix := planFix(id, a.Knobs)
		got, err := apply(t, cmd, fix)
		reason, listed := a.Unsupported[id]
		var unsupported *sdk.UnsupportedError
		switch {
		case listed && !errors.As(err, &unsupported):
			t.Errorf("%s: Analyze says unsupported (%s) but Apply gave %+v, %v", id, reason, got, err)
		case listed && (unsupported.Fix != id || unsupported.Reason != reason):
			t.Errorf("%s: Apply's reason %s: %q differs from Analyze's %q", id, unsupported.Fix, unsupported.Reason, reason)
		case !listed && err != nil:
			t.Errorf("%s: Analyze lists it as supported but Apply failed: %v", id, err)
		case !listed:
			if err := got.Validate("/copies"); err != nil {
				t.Errorf("%s: %v", id, err)
			}
			if len(got.Argv) < len(head) || !reflect.DeepEqual(got.Argv[:len(head)], head) {
				t.Errorf("%s: the argv up to the script changed:\n got %q\nwant %q...", id, got.Argv, head)
			}
		}
	}
}

// knobsText prints knobs for messages.
func knobsText(k sdk.Knobs) string {
	b, _ := json.Marshal(k)
	return string(b)
}

func argvText(argv []string) string { return strings.Join(argv, " ") }
