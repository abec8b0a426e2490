"""Source text of the simulated accelerate and bitsandbytes modules and transformers' Adafactor.

The libraries that wrap torch's backward and optimizers (see simgpu_src_torch.py); simgpu_src_torch
merges these SOURCES into its own, so they load with torch.
"""

SOURCES = {}

SOURCES["accelerate/accelerator.py"] = '''
class Accelerator:
    def __init__(self, gradient_accumulation_steps=1, mixed_precision=None):
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.mixed_precision = mixed_precision
        self.distributed_type = "NO"
        self.scaler = None

    def backward(self, loss, **kwargs):
        if self.distributed_type != "DEEPSPEED":
            # deepspeed handles loss scaling by gradient_accumulation_steps in its `backward`
            loss = loss / self.gradient_accumulation_steps
        if self.scaler is not None:
            self.scaler.scale(loss).backward(**kwargs)
        else:
            loss.backward(**kwargs)
'''

SOURCES["accelerate/optimizer.py"] = '''
class AcceleratedOptimizer:
    def __init__(self, optimizer, scaler=None):
        self.optimizer = optimizer
        self.scaler = scaler
        self.gradient_state = GradientState()

    def zero_grad(self, set_to_none=None):
        if self.gradient_state.sync_gradients:
            self.optimizer.zero_grad(set_to_none=True)

    def step(self, closure=None):
        if self.gradient_state.sync_gradients:
            if self.scaler is not None:
                self.scaler.step(self.optimizer, closure)
                self.scaler.update()
            else:
                self.optimizer.step(closure)
'''

SOURCES["bitsandbytes/optim/optimizer.py"] = '''
class Optimizer8bit(torch.optim.Optimizer):
    def __init__(self, params, defaults, optim_bits=32, is_paged=False):
        super().__init__(params, defaults)
        self.initialized = False
        self.is_paged = is_paged

    def get_state_buffer(self, p, dtype=torch.float32):
        if not self.is_paged or p.numel() < 1e5:
            return torch.zeros_like(p, dtype=dtype, device=p.device)
        else:
            # > 1 MB
            buff = F.get_paged(*p.shape, dtype=dtype, device=p.device)
            F.fill(buff, 0)
            self.page_mng.paged_tensors.append(buff)
            return buff

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        overflows = []

        if not self.initialized:
            self.initialized = True

        for gindex, group in enumerate(self.param_groups):
            for pindex, p in enumerate(group["params"]):
                state = self.state[p]
                if len(state) == 0:
                    self.init_state(group, p, gindex, pindex)

        return loss


class Optimizer2State(Optimizer8bit):
    @torch.no_grad()
    def init_state(self, group, p, gindex, pindex):
        dtype = torch.uint8
        state = self.state[p]
        state["step"] = 0

        state["state1"] = self.get_state_buffer(p, dtype=dtype)
        state["state2"] = self.get_state_buffer(p, dtype=dtype)
'''

SOURCES["transformers/optimization.py"] = '''
class Adafactor(torch.optim.Optimizer):
    def __init__(self, params, lr=None, eps=(1e-30, 1e-3), clip_threshold=1.0, decay_rate=-0.8, beta1=None,
                 weight_decay=0.0, scale_parameter=True, relative_step=True, warmup_init=False):
        if lr is not None and relative_step:
            raise ValueError("Cannot combine manual `lr` and `relative_step=True` options")
        defaults = {"lr": lr, "eps": eps, "clip_threshold": clip_threshold, "decay_rate": decay_rate,
                    "beta1": beta1, "weight_decay": weight_decay, "scale_parameter": scale_parameter,
                    "relative_step": relative_step, "warmup_init": warmup_init}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            loss = closure()

        for group in self.param_groups:
            for p in group["params"]:
                grad = p
                state = self.state[p]

                # State Initialization
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg_sq"] = torch.zeros_like(grad, dtype=torch.bfloat16)

        return loss
'''
