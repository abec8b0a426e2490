"""Source text of the simulated Megatron-Bridge's step function and console line (see simgpu_src_bridge_load):
forward_step with get_batch (megatron/bridge/training/gpt_step.py), the masked next-token loss (training/
losses.py) and training_log with its helpers (training/utils/train_utils.py).

Shaped after NVIDIA-NeMo/Megatron-Bridge's training/gpt_step.py (the step takes the GlobalState first, which
prepare_forward_step_func binds) and training/utils/train_utils.py's training_log: every logger.log_interval
iterations the last rank prints " [date] iteration N/ T | consumed samples: S | elapsed time per iteration
(ms): X | learning rate: ... | global batch size: G | lm loss: ... |", X the interval's mean.
"""

SOURCES = {}

SOURCES["megatron/bridge/training/gpt_step.py"] = '''
def get_batch(data_iterator, cfg, use_mtp=False):
    """Generate a batch."""
    batch = next(data_iterator)
    return (
        batch["tokens"].cuda(non_blocking=True),
        batch["labels"].cuda(non_blocking=True),
        batch["loss_mask"].cuda(non_blocking=True),
        batch["attention_mask"],
        batch["position_ids"].cuda(non_blocking=True),
    )


def forward_step(state: GlobalState, data_iterator, model, return_schedule_plan: bool = False):
    """Forward training step.

    Args:
        state: Global state for the run
        data_iterator: Input data iterator
        model: The GPT Model
        return_schedule_plan (bool): Whether to return the schedule plan instead of the output tensor

    Returns:
        tuple containing the output tensor and the loss function
    """
    timers = state.timers

    timers("batch-generator", log_level=2).start()
    tokens, labels, loss_mask, attention_mask, position_ids = get_batch(data_iterator, state.cfg)
    timers("batch-generator").stop()

    forward_args = {
        "input_ids": tokens,
        "position_ids": position_ids,
        "attention_mask": attention_mask,
        "labels": labels,
    }

    output_tensor = model(**forward_args)

    loss_function = functools.partial(masked_next_token_loss, loss_mask)
    return output_tensor, loss_function
'''

SOURCES["megatron/bridge/training/losses.py"] = '''
def masked_next_token_loss(loss_mask, output_tensor):
    """Loss function: the sum of the masked next-token losses, with the token count to average over.

    Returns:
        tuple: (loss, num_tokens, {"lm loss": reporting_loss})
    """
    losses = output_tensor.float()
    loss_mask = loss_mask.view(-1).float()
    loss = torch.sum(losses.view(-1) * loss_mask)
    num_tokens = loss_mask.sum().clone().detach()
    reporting_loss = torch.cat([loss.clone().detach().view(1), num_tokens.view(1)])
    return (loss, num_tokens, {"lm loss": reporting_loss})
'''

SOURCES["megatron/bridge/training/utils/train_utils.py"] = '''
def prepare_forward_step_func(forward_step_func, state):
    """Convenience function to check and inject GlobalState in one call."""
    parameters = list(inspect.signature(forward_step_func).parameters)
    if parameters and parameters[0] == "state":
        return functools.partial(forward_step_func, state)
    return forward_step_func


def reduce_max_stat_across_model_parallel_group(stat):
    """Calculates the max of a stat across the model parallel group."""
    if stat is None:
        stat = -1.0
    stat = torch.tensor([stat], dtype=torch.float32, device=torch.cuda.current_device())
    torch.distributed.all_reduce(stat, op=torch.distributed.ReduceOp.MAX, group=parallel_state.get_model_parallel_group())
    if stat.item() == -1.0:
        return None
    else:
        return stat.item()


def logical_and_across_model_parallel_group(input):
    """Performs a logical AND operation across the model parallel group."""
    if input is True:
        input = 1
    else:
        input = 0
    input = torch.tensor([input], dtype=torch.int, device=torch.cuda.current_device())
    torch.distributed.all_reduce(input, op=torch.distributed.ReduceOp.MIN, group=parallel_state.get_model_parallel_group())
    return bool(input.item())


def training_log(
    loss_dict,
    total_loss_dict,
    learning_rate,
    decoupled_learning_rate,
    loss_scale,
    report_memory_flag,
    skipped_iter,
    grad_norm,
    params_norm,
    num_zeros_in_grad,
    config,
    global_state,
) -> bool:
    """Log training stats (losses, learning rate, timings, etc.).

    Aggregates losses, logs metrics to TensorBoard and WandB (if enabled),
    and prints a formatted log string to the console on the last rank.
    """
    timers = global_state.timers
    train_state = global_state.train_state
    iteration = train_state.step
    writer = global_state.tensorboard_logger
    wandb_writer = global_state.wandb_logger
    logger_config = config.logger
    train_config = config.train

    # Advanced, skipped, and Nan iterations.
    advanced_iters_key = "advanced iterations"
    skipped_iters_key = "skipped iterations"
    nan_iters_key = "nan iterations"
    # Advanced iterations.
    if not skipped_iter:
        total_loss_dict[advanced_iters_key] = total_loss_dict.get(advanced_iters_key, 0) + 1
    else:
        if advanced_iters_key not in total_loss_dict:
            total_loss_dict[advanced_iters_key] = 0
    # Skipped iterations.
    total_loss_dict[skipped_iters_key] = total_loss_dict.get(skipped_iters_key, 0) + skipped_iter
    got_nan = False
    for key in loss_dict:
        if not skipped_iter:
            total_loss_dict[key] = (
                total_loss_dict.get(key, torch.tensor([0.0], dtype=torch.float, device="cuda")) + loss_dict[key]
            )
    total_loss_dict[nan_iters_key] = total_loss_dict.get(nan_iters_key, 0) + int(got_nan)

    # Calculate batch size.
    batch_size = train_config.micro_batch_size * config.data_parallel_size * get_num_microbatches()

    total_iterations = total_loss_dict[advanced_iters_key] + total_loss_dict[skipped_iters_key]

    # Tensorboard values.
    if wandb_writer and (iteration % logger_config.tensorboard_log_interval == 0):
        wandb_writer.log({"samples vs steps": train_state.consumed_train_samples}, iteration)
    if writer and (iteration % logger_config.tensorboard_log_interval == 0):
        writer.add_scalar("learning-rate", learning_rate, iteration)
        writer.add_scalar("batch-size", batch_size, iteration)
        for key in loss_dict:
            writer.add_scalar(key, loss_dict[key], iteration)
            if wandb_writer:
                wandb_writer.log({key: loss_dict[key]}, iteration)
        if logger_config.log_loss_scale_to_tensorboard:
            writer.add_scalar("loss-scale", loss_scale, iteration)
        if grad_norm is not None:
            writer.add_scalar("grad-norm", grad_norm, iteration)

    if iteration % logger_config.log_interval == 0:
        elapsed_time = timers("interval-time").elapsed(barrier=True)
        elapsed_time_per_iteration = elapsed_time / total_iterations

        if logger_config.log_timers_to_tensorboard:
            if writer:
                writer.add_scalar("iteration-time", elapsed_time_per_iteration, iteration)
            if wandb_writer:
                wandb_writer.log({"iteration-time": elapsed_time_per_iteration}, iteration)
        log_string = f" [{datetime.now().strftime('%Y-%m-%d %H:%M:%S')}]"
        log_string += " iteration {:8d}/{:8d} |".format(iteration, train_config.train_iters)
        log_string += " consumed samples: {:12d} |".format(train_state.consumed_train_samples)
        log_string += " elapsed time per iteration (ms): {:.1f} |".format(elapsed_time_per_iteration * 1000.0)

        # Decoupled_learning_rate should be not None only on first and last pipeline stage.
        log_string += f" learning rate: {learning_rate:.6E} |"
        log_string += f" global batch size: {batch_size:5d} |"
        for key in total_loss_dict:
            if key not in [advanced_iters_key, skipped_iters_key, nan_iters_key]:
                avg = total_loss_dict[key].item() / float(max(1, total_loss_dict[advanced_iters_key]))
                if avg > 0.0:
                    log_string += " {}: {:.6E} |".format(key, avg)
                total_loss_dict[key] = torch.tensor([0.0], dtype=torch.float, device="cuda")
        log_string += f" loss scale: {loss_scale:.1f} |"
        if grad_norm is not None:
            log_string += f" grad norm: {grad_norm:.3f} |"
        log_string += " number of skipped iterations: {:3d} |".format(total_loss_dict[skipped_iters_key])
        log_string += " number of nan iterations: {:3d} |".format(total_loss_dict[nan_iters_key])
        total_loss_dict[advanced_iters_key] = 0
        total_loss_dict[skipped_iters_key] = 0
        total_loss_dict[nan_iters_key] = 0
        print_rank_last(log_string)
        report_memory_flag = False

    return report_memory_flag
'''
