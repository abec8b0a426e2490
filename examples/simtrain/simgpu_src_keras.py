"""Source text of the simulated Keras (2.x, on TensorFlow) modules (see simgpu_src_torch.py).

fit/evaluate/predict run a tf.function whose ops execute in quick_execute; Keras's error handler
re-raises errors with its internal frames filtered out, as the real one does, and the OOM message
lists the Python frames where the failing op was defined.
"""

SOURCES = {}

SOURCES["keras/src/utils/traceback_utils.py"] = '''
def filter_traceback(fn):
    """Filter out Keras-internal stack trace frames in exceptions raised by fn."""

    def error_handler(*args, **kwargs):
        if not is_traceback_filtering_enabled():
            return fn(*args, **kwargs)

        filtered_tb = None
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            filtered_tb = _process_traceback_frames(e.__traceback__)
            # To get the full stack trace, call:
            # `tf.debugging.disable_traceback_filtering()`
            raise e.with_traceback(filtered_tb) from None
        finally:
            del filtered_tb

    return tf_decorator.make_decorator(fn, error_handler)
'''

SOURCES["tensorflow/python/eager/execute.py"] = '''
def quick_execute(op_name, num_outputs, inputs, attrs, ctx, name=None):
  """Execute a TensorFlow operation."""
  device_name = ctx.device_name
  # pylint: disable=protected-access
  try:
    ctx.ensure_initialized()
    tensors = pywrap_tfe.TFE_Py_Execute(ctx._handle, device_name, op_name,
                                        inputs, attrs, num_outputs)
  except core._NotOkStatusException as e:
    if name is not None:
      e.message += " name: " + name
    raise core._status_to_exception(e) from None
  # pylint: enable=protected-access
  return tensors
'''

SOURCES["tensorflow/python/eager/polymorphic_function/polymorphic_function.py"] = '''
class Function(core.PolymorphicFunction, trackable.Trackable):
  def __init__(self, python_function, name, reduce_retracing=False):
    self._python_function = python_function
    self._name = name
    self._inference_name = f"__inference_{name}_{next(_function_ids)}"

  def __call__(self, *args, **kwds):
    # Implements PolymorphicFunction.__call__.
    with trace.Trace(self._name) as tm:
      result = self._call(*args, **kwds)
    return result

  def _call(self, *args, **kwds):
    """Calls the graph function."""
    return execute.quick_execute(
        self._inference_name,
        num_outputs=1,
        inputs=(self._python_function,) + args,
        attrs=(),
        ctx=context.context())
'''

SOURCES["keras/src/engine/base_layer.py"] = '''
class Layer(tf.Module):
    def __call__(self, *args, **kwargs):
        inputs, args, kwargs = self._call_spec.split_out_first_arg(args, kwargs)
        call_fn = self.call
        with autocast_variable.enable_auto_cast_variables(self._compute_dtype_object):
            outputs = call_fn(inputs, *args, **kwargs)
        return outputs
'''

SOURCES["keras/src/layers/core/dense.py"] = '''
class Dense(Layer):
    def __init__(self, units, index, **kwargs):
        self.units = units
        self.index = index

    def build(self, input_shape):
        last_dim = input_shape[-1]
        self.kernel = self.add_weight(
            "kernel",
            shape=[last_dim, self.units],
            initializer=self.kernel_initializer,
            dtype=self.dtype,
            trainable=True,
        )
        self.built = True

    def call(self, inputs):
        outputs = tf.matmul(a=inputs, b=self.kernel)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs
'''

SOURCES["keras/src/engine/sequential.py"] = '''
class Sequential(functional.Functional):
    def __init__(self, layers=None, name=None):
        self.layers = list(layers or [])

    def build(self, input_shape=None):
        for layer in self.layers:
            layer.build(input_shape)
        self.built = True

    def call(self, inputs, training=None, mask=None):
        outputs = inputs
        for layer in self.layers:
            kwargs = {}
            outputs = layer(outputs, **kwargs)
        return outputs
'''

SOURCES["keras/src/optimizers/adam.py"] = '''
class Adam(optimizer.Optimizer):
    def minimize(self, loss, var_list, tape=None):
        grads_and_vars = self.compute_gradients(loss, var_list, tape)
        self.apply_gradients(grads_and_vars)

    def compute_gradients(self, loss, var_list, tape=None):
        grads = tape.gradient(loss, var_list)
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, name=None, skip_gradients_aggregation=False, **kwargs):
        grads_and_vars = list(grads_and_vars)
        trainable_variables = [v for (_, v) in grads_and_vars]
        with tf.init_scope():
            # Lift variable creation to init scope to avoid environment
            # issues.
            self.build(trainable_variables)

    def build(self, var_list):
        if hasattr(self, "_built") and self._built:
            return
        self._built = True
        self._momentums = []
        self._velocities = []
        for var in var_list:
            self._momentums.append(
                self.add_variable_from_reference(
                    model_variable=var, variable_name="m"
                )
            )
            self._velocities.append(
                self.add_variable_from_reference(
                    model_variable=var, variable_name="v"
                )
            )
'''

SOURCES["keras/src/engine/training.py"] = '''
class Model(base_layer.Layer):
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        self.optimizer = Adam()
        self.loss = loss

    def train_step(self, data):
        x, y, sample_weight = data_adapter.unpack_x_y_sample_weight(data)
        # Run forward pass.
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        self._validate_target_and_loss(y, loss)
        # Run backwards pass.
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def make_train_function(self, force=False):
        def step_function(model, iterator):
            """Runs a single training step."""

            def run_step(data):
                outputs = model.train_step(data)
                return outputs

            data = next(iterator)
            outputs = model.distribute_strategy.run(run_step, args=(data,))
            return outputs

        def train_function(iterator):
            """Runs a training execution with a single step."""
            return step_function(self, iterator)

        train_function = tf.function(train_function, reduce_retracing=True)
        self.train_function = train_function
        return self.train_function

    @traceback_utils.filter_traceback
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, steps_per_epoch=None,
            validation_steps=None, validation_batch_size=None, validation_freq=1):
        self.train_function = self.make_train_function()
        data_handler = data_adapter.get_data_handler(self, "train", epochs, steps_per_epoch)
        for epoch, iterator in data_handler.enumerate_epochs():
            for step in data_handler.steps():
                tmp_logs = self.train_function(iterator)
            # Run validation.
            if validation_data and self._should_eval(epoch, validation_freq):
                val_x, val_y = validation_data
                val_logs = self.evaluate(
                    x=val_x,
                    y=val_y,
                    batch_size=validation_batch_size or batch_size,
                    steps=validation_steps,
                    callbacks=callbacks,
                    return_dict=True,
                )
        return self.history

    def test_step(self, data):
        x, y, sample_weight = data_adapter.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        # Updates stateful loss metrics.
        self.compute_loss(x, y, y_pred, sample_weight)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def make_test_function(self, force=False):
        def step_function(model, iterator):
            """Runs a single evaluation step."""

            def run_step(data):
                outputs = model.test_step(data)
                return outputs

            data = next(iterator)
            outputs = model.distribute_strategy.run(run_step, args=(data,))
            return outputs

        def test_function(iterator):
            """Runs a test execution with a single step."""
            return step_function(self, iterator)

        test_function = tf.function(test_function, reduce_retracing=True)
        self.test_function = test_function
        return self.test_function

    @traceback_utils.filter_traceback
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        self.test_function = self.make_test_function()
        data_handler = data_adapter.get_data_handler(self, "test", 1, steps)
        for _, iterator in data_handler.enumerate_epochs():  # Single epoch.
            for step in data_handler.steps():
                logs = self.test_function(iterator)
        return logs

    def predict_step(self, data):
        x, _, _ = data_adapter.unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def make_predict_function(self, force=False):
        def step_function(model, iterator):
            """Runs a single prediction step."""

            def run_step(data):
                outputs = model.predict_step(data)
                return outputs

            data = next(iterator)
            outputs = model.distribute_strategy.run(run_step, args=(data,))
            return outputs

        def predict_function(iterator):
            """Runs an evaluation execution with a single step."""
            return step_function(self, iterator)

        predict_function = tf.function(predict_function, reduce_retracing=True)
        self.predict_function = predict_function
        return self.predict_function

    @traceback_utils.filter_traceback
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        self.predict_function = self.make_predict_function()
        data_handler = data_adapter.get_data_handler(self, "predict", 1, steps)
        for _, iterator in data_handler.enumerate_epochs():  # Single epoch.
            for step in data_handler.steps():
                batch_outputs = self.predict_function(iterator)
        return batch_outputs
'''
