package tensorflow

import "github.com/vramrun/vramrun/sdk"

// Patterns are the out-of-memory texts TensorFlow prints, as declared data
// for vramrun's scanner and diagnosis engine. A line takes the first pattern
// that matches, so the CPU form comes before the GPU one.
func Patterns() []sdk.OOMPattern {
	const shapeAndType = ` ?\[(?P<shape>[0-9, ]*)\] and type (?P<dtype>[A-Za-z0-9_]+)`
	// dtypes maps the printed dtype names (DataTypeString) to their size in
	// bytes. Types without a fixed byte size (string, resource, variant, the
	// 4-bit ones) are left out, so their tensors give no size.
	dtypes := map[string]int{
		"float": 4, "double": 8, "half": 2, "bfloat16": 2,
		"int8": 1, "int16": 2, "int32": 4, "int64": 8,
		"uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8,
		"bool": 1, "complex64": 8, "complex128": 16,
		"qint8": 1, "quint8": 1, "qint16": 2, "quint16": 2, "qint32": 4,
		"float8_e5m2": 1, "float8_e4m3fn": 1, "float8_e4m3fnuz": 1, "float8_e4m3b11fnuz": 1, "float8_e5m2fnuz": 1,
	}
	return []sdk.OOMPattern{
		{
			// The op kernel's ResourceExhausted on the host: RAM, not VRAM.
			ID: "tensorflow.oom_tensor_cpu", Framework: "tensorflow", Kind: sdk.KindHost,
			Regexp:     `OOM when allocating tensor with shape` + shapeAndType + ` on \S*device:CPU:\d+`,
			DTypeSizes: dtypes,
		},
		{
			// OpKernelContext::allocate_tensor's ResourceExhausted.
			ID: "tensorflow.oom_tensor", Framework: "tensorflow", Kind: sdk.KindGPU,
			Regexp:     `OOM when allocating tensor with shape` + shapeAndType + `(?: on \S*device:GPU:(?P<device>\d+))?`,
			DTypeSizes: dtypes,
		},
		{
			// The TF 1.x wording; the device is in the node line after it.
			ID: "tensorflow.oom_tensor_legacy", Framework: "tensorflow", Kind: sdk.KindGPU,
			Regexp:     `OOM when allocating tensor of shape` + shapeAndType,
			Follow:     []string{`device="[^"]*(?:gpu|GPU):(?P<device>\d+)"`},
			DTypeSizes: dtypes,
		},
		{
			// The BFC allocator's fatal warning, logged before the exception
			// and its allocation dump. Only this form carries "(rounded to
			// N)"; the non-fatal "... with freed_by_count=0. The caller
			// indicates that this is not a failure" line has none, so it
			// never matches.
			ID: "tensorflow.bfc_allocator", Framework: "tensorflow", Kind: sdk.KindGPU,
			Regexp: `Allocator \(GPU_(?P<device>\d+)_bfc\) ran out of memory trying to allocate \S+ \(rounded to (?P<tried>\d+)\)`,
		},
	}
}

// Frames are the Keras/TensorFlow traceback functions that tell the phase.
// fit, evaluate and predict are Model's methods, and names any script may
// use for its own functions: they count in Keras's files only (keras/ of
// Keras 2 and 3, TensorFlow's own tensorflow/python/keras/, tf_keras/).
// The step methods are what a Model subclass overrides in the user's file,
// so they count anywhere.
func Frames() []sdk.Frame {
	var frames []sdk.Frame
	for _, pkg := range []string{"keras", "tf_keras"} {
		frames = append(frames,
			sdk.Frame{Name: "evaluate", Phase: sdk.PhaseEval, Package: pkg},
			sdk.Frame{Name: "predict", Phase: sdk.PhaseEval, Package: pkg},
			sdk.Frame{Name: "fit", Phase: sdk.PhaseTrain, Package: pkg})
	}
	return append(frames,
		sdk.Frame{Name: "test_step", Phase: sdk.PhaseEval},
		sdk.Frame{Name: "predict_step", Phase: sdk.PhaseEval},
		sdk.Frame{Name: "train_step", Phase: sdk.PhaseTrain})
}
