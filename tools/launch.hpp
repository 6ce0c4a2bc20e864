#pragma once
// `cotangent launch --nproc N [--master-port P] -- COMMAND...`: N local ranks of COMMAND with the
// environment a process group reads (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT),
// as torchrun does for one machine.

namespace ct::cli {

/// Runs the launch command (argv[1] is "launch"); returns the exit status: 0 when every rank
/// succeeded, else the first failure's (the other ranks are then stopped).
int launch(int argc, char** argv);

}  // namespace ct::cli
