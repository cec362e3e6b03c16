# How the stages launch their jobs: as arrays of words put before the command.
# Empty: run on this machine. On a cluster, for example:
#   train_cmd=(srun --gres=gpu:1 --cpus-per-task=8 --time=2-00:00:00 --)
#   decode_cmd=(srun --cpus-per-task=8 --)
train_cmd=()
decode_cmd=()
