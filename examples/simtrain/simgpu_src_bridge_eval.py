"""Source text of the simulated Megatron-Bridge's checkpoints and evaluation (see simgpu_src_bridge_load):
save_checkpoint and load_checkpoint (megatron/bridge/training/checkpointing.py) and evaluate with
evaluate_and_print_results (training/eval.py).

Shaped after NVIDIA-NeMo/Megatron-Bridge's training/checkpointing.py (the torch_dist format's iter_NNNNNNN/
folder, the latest_checkpointed_iteration.txt tracker, a pretrained_checkpoint loading weights only) with the
messages of Megatron-LM's checkpointing.py, which Bridge's keeps, and training/eval.py (eval_iters global
batches of micro-batches, the loss and perplexity box printed by the last rank).
"""

SOURCES = {}

SOURCES["megatron/bridge/training/checkpointing.py"] = '''
TRACKER_PREFIX = "latest"
TRAIN_STATE_FILE = "train_state.pt"


def get_checkpoint_tracker_filename(checkpoints_path: str) -> str:
    """Tracker file rescords the latest chckpoint during training to restart from."""
    return os.path.join(checkpoints_path, "latest_checkpointed_iteration.txt")


def get_checkpoint_name(checkpoints_path, iteration, release=False):
    """Determine the directory name for this rank's checkpoint."""
    directory = "release" if release else "iter_{:07d}".format(iteration)
    return os.path.join(checkpoints_path, directory)


def read_metadata(tracker_filename: str):
    """Read the metadata from the Megatron-LM tracker file."""
    iteration = 0
    release = False
    with open(tracker_filename, "r") as f:
        metastring = f.read().strip()
        try:
            iteration = int(metastring)
        except ValueError:
            release = metastring == "release"
            if not release:
                print_rank_0("ERROR: Invalid metadata file {}. Exiting".format(tracker_filename))
                sys.exit()
    assert iteration > 0 or release, "error parsing metadata file {}".format(tracker_filename)
    return iteration, release


def save_checkpoint(
    state,
    model,
    optimizer,
    opt_param_scheduler,
    num_floating_point_operations_so_far,
    checkpointing_context=None,
    pipeline_rank=None,
    tensor_rank=None,
    non_persistent_ckpt=False,
    train_data_iterator=None,
) -> None:
    """Save a model checkpoint."""
    train_state = state.train_state
    cfg = state.cfg
    ckpt_cfg = cfg.checkpoint
    save_dir = ckpt_cfg.save
    ckpt_format = ckpt_cfg.ckpt_format

    print_rank_0(f"saving checkpoint at iteration {train_state.step:7d} to {save_dir} in {ckpt_format} format")

    # Checkpoint name.
    checkpoint_name = get_checkpoint_name(save_dir, train_state.step, release=False)
    if get_rank_safe() == 0:
        os.makedirs(checkpoint_name, exist_ok=True)

    state_dict = {"model": model[0].state_dict(), "iteration": train_state.step}
    if ckpt_cfg.save_optim and optimizer is not None:
        state_dict["optimizer"] = optimizer.state_dict()
    if ckpt_cfg.save_rng:
        state_dict["rng_state"] = [{"random_rng_state": cfg.rng.seed}]
    dist_checkpointing.save(state_dict, checkpoint_name)

    if get_rank_safe() == 0:
        torch.save(train_state.state_dict(), os.path.join(checkpoint_name, TRAIN_STATE_FILE))
        torch.save(train_state.state_dict(), os.path.join(save_dir, f"{TRACKER_PREFIX}_{TRAIN_STATE_FILE}"))
        with open(os.path.join(checkpoint_name, "run_config.yaml"), "w") as f:
            f.write(cfg.to_yaml())

        # Update the latest iteration
        tracker_filename = get_checkpoint_tracker_filename(save_dir)
        with open(tracker_filename, "w") as f:
            f.write(str(train_state.step))

    tp_rank, tp_size = parallel_state.get_tensor_model_parallel_rank(), parallel_state.get_tensor_model_parallel_world_size()
    pp_rank, pp_size = parallel_state.get_pipeline_model_parallel_rank(), parallel_state.get_pipeline_model_parallel_world_size()
    print_rank_0(
        f"  successfully saved checkpoint from iteration {train_state.step:7d} to {save_dir} "
        f"[ t {tp_rank + 1}/{tp_size}, p {pp_rank + 1}/{pp_size} ]"
    )


def load_checkpoint(
    state,
    model,
    optimizer,
    opt_param_scheduler,
    strict=True,
    checkpointing_context=None,
    skip_load_to_model_and_opt=False,
):
    """Load a model checkpoint."""
    cfg = state.cfg
    load_dir = cfg.checkpoint.load
    finetune = cfg.checkpoint.finetune

    # Finetuning from a pretrained checkpoint when there is no checkpoint of this run to resume.
    if cfg.checkpoint.pretrained_checkpoint is not None and (
        load_dir is None or not os.path.isfile(get_checkpoint_tracker_filename(load_dir))
    ):
        load_dir = cfg.checkpoint.pretrained_checkpoint
        finetune = True

    tracker_filename = get_checkpoint_tracker_filename(load_dir)
    if not os.path.isfile(tracker_filename):
        print_rank_0("WARNING: could not find the metadata file {}".format(tracker_filename))
        print_rank_0("    will not load any checkpoints and will start from random")
        if cfg.checkpoint.exit_on_missing_checkpoint:
            print_rank_0(">> '--exit-on-missing-checkpoint' set ... exiting. <<")
            sys.exit()
        return 0, 0

    if cfg.checkpoint.ckpt_step is not None:
        iteration, release = cfg.checkpoint.ckpt_step, False
    else:
        iteration, release = read_metadata(tracker_filename)
    checkpoint_name = get_checkpoint_name(load_dir, iteration, release)
    print_rank_0(f" loading distributed checkpoint from {load_dir} at iteration {iteration}")

    state_dict = dist_checkpointing.load(checkpoint_name)
    model[0].load_state_dict(state_dict["model"], strict=strict)

    if finetune or release:
        state.train_state.step = 0
    else:
        state.train_state.load_state_dict(torch.load(os.path.join(checkpoint_name, TRAIN_STATE_FILE)))
        if optimizer is not None and cfg.checkpoint.load_optim and "optimizer" in state_dict:
            optimizer.load_state_dict(state_dict["optimizer"])

    tp_rank, tp_size = parallel_state.get_tensor_model_parallel_rank(), parallel_state.get_tensor_model_parallel_world_size()
    pp_rank, pp_size = parallel_state.get_pipeline_model_parallel_rank(), parallel_state.get_pipeline_model_parallel_world_size()
    print_rank_0(
        f"  successfully loaded checkpoint from {load_dir} [ t {tp_rank + 1}/{tp_size}, p {pp_rank + 1}/{pp_size} ] "
        f"at iteration {state.train_state.step}"
    )
    return state.train_state.step, state.train_state.floating_point_operations_so_far
'''

SOURCES["megatron/bridge/training/eval.py"] = '''
def evaluate(state, forward_step_func, data_iterator, model, process_non_loss_data_func, config, verbose=False,
             non_loss_data_func=None):
    """Evaluation function."""
    timers = state.timers
    timers("evaluate", log_level=0).start(barrier=True)

    # Turn on evaluation mode which disables dropout.
    for model_module in model:
        model_module.eval()

    total_loss_dict = {}

    # make validation batch size independent from training batch size
    eval_batch_size = state.cfg.train.global_batch_size
    eval_num_microbatches = eval_batch_size // (state.cfg.train.micro_batch_size * state.cfg.data_parallel_size)

    with torch.no_grad():
        iteration = 0
        if verbose:
            print_rank_0(f"Evaluating on {state.cfg.train.eval_iters * eval_batch_size} samples")
        while iteration < state.cfg.train.eval_iters:
            iteration += 1
            if verbose:
                print_rank_0(f"Evaluating iter {iteration}/{state.cfg.train.eval_iters}")

            wrapped_forward_step = prepare_forward_step_func(forward_step_func, state)
            forward_backward_func = get_forward_backward_func()
            loss_dicts = forward_backward_func(
                forward_step_func=wrapped_forward_step,
                data_iterator=data_iterator,
                model=model,
                num_microbatches=eval_num_microbatches,
                seq_length=state.cfg.model.seq_length,
                micro_batch_size=state.cfg.train.micro_batch_size,
                forward_only=True,
            )

            if parallel_state.is_pipeline_last_stage(ignore_virtual=True):
                # Reduce across processes.
                for key in loss_dicts[0].keys():
                    if key not in total_loss_dict:
                        total_loss_dict[key] = torch.tensor([0.0, 0.0], dtype=torch.float).cuda()
                    val = [x[key].view(-1) for x in loss_dicts]
                    if val[0].numel() == 2:
                        val = torch.vstack(val).sum(dim=0)
                        torch.distributed.all_reduce(
                            val, group=parallel_state.get_data_parallel_group(with_context_parallel=True)
                        )
                        total_loss_dict[key] += val

            state.train_state.consumed_valid_samples += eval_batch_size

    collected_non_loss_data = None

    # Move model back to the train mode.
    for model_module in model:
        model_module.train()

    for key in total_loss_dict:
        numerator, denominator = total_loss_dict[key]
        total_loss_dict[key] = numerator / denominator

    timers("evaluate").stop()
    timers.log(["evaluate"])

    return total_loss_dict, collected_non_loss_data, False


def evaluate_and_print_results(
    state,
    prefix,
    forward_step_func,
    data_iterator,
    model,
    config,
    verbose=False,
    write_to_tensorboard=True,
    process_non_loss_data_func=None,
    non_loss_data_func=None,
):
    """Helper function to evaluate and dump results on screen."""
    if write_to_tensorboard:
        writer = state.tensorboard_logger
    else:
        writer = None

    wandb_writer = state.wandb_logger

    total_loss_dict, collected_non_loss_data, timelimit = evaluate(
        state, forward_step_func, data_iterator, model, process_non_loss_data_func, config, verbose,
        non_loss_data_func
    )

    # Timelimit hit during evaluation
    if timelimit:
        return

    string = f" validation loss at {prefix} | "
    for key in total_loss_dict:
        string += "{} value: {:.6E} | ".format(key, total_loss_dict[key].item())
        ppl = math.exp(min(20, total_loss_dict[key].item()))
        string += "{} PPL: {:.6E} | ".format(key, ppl)
        if writer:
            writer.add_scalar("{} validation".format(key), total_loss_dict[key].item(), state.train_state.step)
        if wandb_writer:
            wandb_writer.log({"{} validation".format(key): total_loss_dict[key].item()}, state.train_state.step)

    length = len(string) + 1
    print_rank_last("-" * length)
    print_rank_last(string)
    print_rank_last("-" * length)
'''
