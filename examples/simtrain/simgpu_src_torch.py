"""Source text of the simulated torch modules.

These are compiled under file names inside simtrain's site-packages/ folder (which does not exist on
disk; the lines are served from linecache) so that tracebacks show framework frames with real-looking
code. They keep the call structure of the real libraries; what a tensor operation does on the GPU
is supplied by simgpu_frames (its frames are hidden from printed tracebacks, like C++ code).

SOURCES maps each module's path under site-packages/ to its text, one whole file per entry (so that
line numbers in tracebacks do not depend on how the entries are spread over simgpu_src_*.py); it
includes simgpu_src_torch_ext's accelerate, bitsandbytes and Adafactor modules.
"""

import simgpu_src_torch_ext

SOURCES = {}

SOURCES["torch/nn/modules/module.py"] = '''
class Module:
    _compiled_call_impl = None

    def __init__(self):
        self._parameters = {}
        self._modules = {}
        self._forward_hooks = {}
        self._forward_pre_hooks = {}
        self.training = True

    def __setattr__(self, name, value):
        if isinstance(value, Module):
            self.__dict__.setdefault("_modules", {})[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *input):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def register_parameter(self, name, param):
        self._parameters[name] = param

    def add_module(self, name, module):
        self._modules[name] = module

    def children(self):
        for name, module in self._modules.items():
            yield module

    def parameters(self, recurse=True):
        for module in self.children():
            yield from module.parameters()
        yield from self._parameters.values()

    def _apply(self, fn, recurse=True):
        if recurse:
            for module in self.children():
                module._apply(fn)

        for key, param in self._parameters.items():
            if param is None:
                continue
            with torch.no_grad():
                param_applied = fn(param)
            self._parameters[key] = param_applied
        return self

    def to(self, *args, **kwargs):
        device, dtype, non_blocking, convert_to_format = torch._C._nn._parse_to(*args, **kwargs)

        def convert(t):
            return t.to(
                device,
                dtype if t.is_floating_point() or t.is_complex() else None,
                non_blocking,
            )

        return self._apply(convert)

    def train(self, mode=True):
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            p.grad = None

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        if destination is None:
            destination = {}
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _wrapped_call_impl(self, *args, **kwargs):
        if self._compiled_call_impl is not None:
            return self._compiled_call_impl(*args, **kwargs)  # type: ignore[misc]
        else:
            return self._call_impl(*args, **kwargs)

    def _call_impl(self, *args, **kwargs):
        forward_call = self.forward
        # If we don't have any hooks, we want to skip the rest of the logic in
        # this function, and just call forward.
        if not (self._forward_hooks or self._forward_pre_hooks):
            return forward_call(*args, **kwargs)
        raise RuntimeError("hooks are not simulated")

    __call__ = _wrapped_call_impl
'''

SOURCES["torch/nn/modules/container.py"] = '''
class Sequential(Module):
    def __init__(self, *args):
        super().__init__()
        for idx, module in enumerate(args):
            self.add_module(str(idx), module)

    def __iter__(self):
        return iter(self._modules.values())

    def __len__(self):
        return len(self._modules)

    def forward(self, input):
        for module in self:
            input = module(input)
        return input
'''

SOURCES["torch/nn/modules/linear.py"] = '''
class Linear(Module):
    def __init__(self, weight, bias=None):
        super().__init__()
        self.weight = weight
        self.bias = bias
        self.register_parameter("weight", weight)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)
'''

SOURCES["torch/nn/modules/loss.py"] = '''
class CrossEntropyLoss(Module):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__()
        self.weight = weight
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )
'''

SOURCES["torch/_tensor.py"] = '''
class Tensor:
    grad = None

    def backward(
        self, gradient=None, retain_graph=None, create_graph=False, inputs=None
    ):
        r"""Computes the gradient of current tensor wrt graph leaves."""
        if has_torch_function_unary(self):
            return handle_torch_function(
                Tensor.backward,
                (self,),
                self,
                gradient=gradient,
                retain_graph=retain_graph,
                create_graph=create_graph,
                inputs=inputs,
            )
        torch.autograd.backward(
            self, gradient, retain_graph, create_graph, inputs=inputs
        )
'''

SOURCES["torch/autograd/__init__.py"] = '''
def backward(
    tensors,
    grad_tensors=None,
    retain_graph=None,
    create_graph=False,
    grad_variables=None,
    inputs=None,
):
    if retain_graph is None:
        retain_graph = create_graph

    tensors = (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)
    grad_tensors_ = grad_tensors

    # The reason we repeat the same comment below is that
    # some Python versions print out the first line of a multi-line function
    # calls in the traceback and some print out the last line
    _engine_run_backward(
        tensors,
        grad_tensors_,
        retain_graph,
        create_graph,
        inputs,
        allow_unreachable=True,
        accumulate_grad=True,
    )
'''

SOURCES["torch/autograd/graph.py"] = '''
def _engine_run_backward(t_outputs, *args, **kwargs):
    attach_logging_hooks = log.getEffectiveLevel() <= logging.DEBUG
    if attach_logging_hooks:
        unregister_hooks = _register_logging_hooks_on_whole_graph(t_outputs)
    try:
        return Variable._execution_engine.run_backward(  # Calls into the C++ engine to run the backward pass
            t_outputs, *args, **kwargs
        )  # Calls into the C++ engine to run the backward pass
    finally:
        if attach_logging_hooks:
            unregister_hooks()  # type: ignore[possibly-undefined]
'''

SOURCES["torch/optim/optimizer.py"] = '''
def _use_grad_for_differentiable(func):
    def _use_grad(self, *args, **kwargs):
        prev_grad = torch.is_grad_enabled()
        try:
            torch.set_grad_enabled(self.defaults["differentiable"])
            ret = func(self, *args, **kwargs)
        finally:
            torch.set_grad_enabled(prev_grad)
        return ret

    functools.update_wrapper(_use_grad, func)
    return _use_grad


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = [dict(defaults, params=list(params))]

    @staticmethod
    def profile_hook_step(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            self, *_ = args
            profile_name = f"Optimizer.step#{self.__class__.__name__}.step"
            with torch.autograd.profiler.record_function(profile_name):
                # call optimizer step pre hooks
                for pre_hook in self._optimizer_step_pre_hooks.values():
                    result = pre_hook(self, args, kwargs)

                out = func(*args, **kwargs)
                self._optimizer_step_code()

                # call optimizer step post hooks
                for post_hook in self._optimizer_step_post_hooks.values():
                    post_hook(self, args, kwargs)

                return out

        return wrapper

    _optimizer_step_pre_hooks = {}
    _optimizer_step_post_hooks = {}

    def _optimizer_step_code(self):
        pass

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None
'''

SOURCES["torch/optim/adamw.py"] = '''
class AdamW(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 *, maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        foreach=foreach, maximize=maximize, capturable=capturable,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _init_group(self, group, params_with_grad, grads, amsgrad, exp_avgs, exp_avg_sqs,
                    max_exp_avg_sqs, state_steps):
        has_complex = False
        for p in group["params"]:
            params_with_grad.append(p)
            grads.append(p.grad)

            state = self.state[p]

            # State initialization
            if len(state) == 0:
                state["step"] = torch.tensor(0.0, dtype=_get_scalar_dtype())
                # Exponential moving average of gradient values
                state["exp_avg"] = torch.zeros_like(
                    p, memory_format=torch.preserve_format
                )
                # Exponential moving average of squared gradient values
                state["exp_avg_sq"] = torch.zeros_like(
                    p, memory_format=torch.preserve_format
                )

            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            state_steps.append(state["step"])
        return has_complex

    @_use_grad_for_differentiable
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            params_with_grad = []
            grads = []
            exp_avgs = []
            exp_avg_sqs = []
            max_exp_avg_sqs = []
            state_steps = []
            amsgrad = group["amsgrad"]

            has_complex = self._init_group(
                group,
                params_with_grad,
                grads,
                amsgrad,
                exp_avgs,
                exp_avg_sqs,
                max_exp_avg_sqs,
                state_steps,
            )

            adamw(params_with_grad, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps)

        return loss


AdamW.step = Optimizer.profile_hook_step(AdamW.step)
'''

SOURCES["torch/amp/grad_scaler.py"] = '''
class GradScaler:
    def __init__(self, device="cuda", enabled=True):
        self._enabled = enabled

    def scale(self, outputs):
        if not self._enabled:
            return outputs
        return outputs * self._scale

    _scale = 65536.0

    def _maybe_opt_step(self, optimizer, optimizer_state, *args, **kwargs):
        retval = None
        if not sum(v.item() for v in optimizer_state["found_inf_per_device"].values()):
            retval = optimizer.step(*args, **kwargs)
        return retval

    def step(self, optimizer, *args, **kwargs):
        if not self._enabled:
            return optimizer.step(*args, **kwargs)

        optimizer_state = {"found_inf_per_device": {}}
        retval = self._maybe_opt_step(optimizer, optimizer_state, *args, **kwargs)
        return retval

    def update(self, new_scale=None):
        pass
'''

SOURCES["torch/utils/data/_utils/signal_handling.py"] = '''
def handler(signum, frame):
    # This following call uses `waitid` with WNOHANG from C side. Therefore,
    # Python can still get and update the process status successfully.
    _error_if_any_worker_fails()
    if previous_handler is not None:
        assert callable(previous_handler)
        previous_handler(signum, frame)
'''

SOURCES["torch/utils/data/dataloader.py"] = '''
class _MultiProcessingDataLoaderIter:
    def __init__(self, workers, data_queue):
        self._workers = workers
        self._workers_status = [True for i in range(len(workers))]
        self._data_queue = data_queue
        self._timeout = 0
        self._profile_name = "enumerate(DataLoader)#_MultiProcessingDataLoaderIter.__next__"

    def __iter__(self):
        return self

    def __next__(self):
        with torch.autograd.profiler.record_function(self._profile_name):
            data = self._next_data()
            return data

    def _next_data(self):
        while True:
            idx, data = self._get_data()
            return data

    def _get_data(self):
        while True:
            success, data = self._try_get_data()
            if success:
                return data

    def _mark_worker_as_unavailable(self, worker_id, shutdown=False):
        self._workers_status[worker_id] = False

    def _try_get_data(self, timeout=_utils.MP_STATUS_CHECK_INTERVAL):
        try:
            data = self._data_queue.get(timeout=timeout)
            return (True, data)
        except Exception as e:
            # At timeout and error, we manually check whether any worker has
            # failed. Note that this is the only mechanism for Windows to detect
            # worker failures.
            failed_workers = []
            for worker_id, w in enumerate(self._workers):
                if self._workers_status[worker_id] and not w.is_alive():
                    failed_workers.append(w)
                    self._mark_worker_as_unavailable(worker_id)
            if len(failed_workers) > 0:
                pids_str = ", ".join(str(w.pid) for w in failed_workers)
                raise RuntimeError(
                    f"DataLoader worker (pid(s) {pids_str}) exited unexpectedly"
                ) from e
            raise
'''

SOURCES.update(simgpu_src_torch_ext.SOURCES)

SOURCES["torch/serialization.py"] = '''
def _is_path(name_or_buffer):
    return isinstance(name_or_buffer, (str, os.PathLike))


class _opener:
    def __init__(self, file_like):
        self.file_like = file_like

    def __enter__(self):
        return self.file_like

    def __exit__(self, *args):
        pass


class _open_file(_opener):
    def __init__(self, name, mode):
        super().__init__(open(name, mode))

    def __exit__(self, *args):
        self.file_like.close()


class _open_buffer_reader(_opener):
    pass


class _open_buffer_writer(_opener):
    def __exit__(self, *args):
        self.file_like.flush()


def _open_file_like(name_or_buffer, mode):
    if _is_path(name_or_buffer):
        return _open_file(name_or_buffer, mode)
    else:
        if "w" in mode:
            return _open_buffer_writer(name_or_buffer)
        elif "r" in mode:
            return _open_buffer_reader(name_or_buffer)
        else:
            raise RuntimeError(f"Expected 'r' or 'w' in mode but got {mode}")


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    with _open_file_like(f, "wb") as opened_file:
        _save(obj, opened_file, pickle_module, pickle_protocol, _disable_byteorder_record)
        return


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    with _open_file_like(f, "rb") as opened_file:
        return _legacy_load(opened_file, map_location, pickle_module, **pickle_load_args)
'''
