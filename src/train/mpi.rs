//! [`Collective`] over MPI (feature `mpi`): the all-gather of shard results is one
//! `MPI_Allgather` on `MPI_COMM_WORLD`, which places the blocks in rank order, so every rank
//! sums the same values in the same order.

use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives};

use super::{Collective, TrainError};

/// The processes of an MPI communicator (normally `MPI_COMM_WORLD`).
/// Holds the MPI environment: dropping it finalises MPI.
pub struct MpiCollective {
    world: SimpleCommunicator,
    _universe: Universe,
}

impl MpiCollective {
    /// Initialises MPI (once per process) and takes `MPI_COMM_WORLD`; without `mpiexec` this is
    /// a world of one.
    pub fn init() -> Result<Self, TrainError> {
        let universe = mpi::initialize().ok_or_else(|| TrainError::Collective {
            iteration: 0,
            what: "MPI_Init",
            reason: "MPI was already initialised or failed to start".into(),
        })?;
        Ok(MpiCollective {
            world: universe.world(),
            _universe: universe,
        })
    }

    /// Ends every process of the job with `code` (`MPI_Abort`): a rank that fails must not
    /// leave the others waiting in a collective.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        usize::try_from(self.world.rank()).unwrap_or(0)
    }

    fn size(&self) -> usize {
        usize::try_from(self.world.size()).unwrap_or(1)
    }

    fn all_gather(&self, local: &[f64], out: &mut [f64]) -> Result<(), TrainError> {
        if out.len() != local.len() * self.size() {
            return Err(TrainError::Collective {
                iteration: 0,
                what: "all-gather",
                reason: format!(
                    "{} values out for {} in × {} ranks",
                    out.len(),
                    local.len(),
                    self.size()
                ),
            });
        }
        self.world.all_gather_into(local, out);
        Ok(())
    }
}
