//! [`Collective`] over MPI (feature `mpi`): the tree reduction of shard sums is recursive
//! doubling with `MPI_Sendrecv` on `MPI_COMM_WORLD` (`log₂R` exchanges of one block per rank),
//! each pair forming (lower rank's) + (upper rank's), so every rank holds the same bits.

use mpi::environment::Universe;
use mpi::point_to_point::send_receive_into;
use mpi::topology::SimpleCommunicator;
use mpi::traits::Communicator;

use super::shard::Combine;
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
    /// leave the others waiting in a collective. Waits half a second first: what the rank
    /// just wrote to stderr is still in the pipe to MPICH's proxy, and the abort tears the job
    /// down at once (a CI run lost a failing rank's whole error line). Half a second costs
    /// nothing on a job that is failing anyway.
    pub fn abort(&self, code: i32) -> ! {
        std::thread::sleep(std::time::Duration::from_millis(500));
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

    fn tree_reduce(&self, sum: &mut [f64], combine: Combine<'_>) -> Result<(), TrainError> {
        let (rank, size) = (self.rank(), self.size());
        if size > 1 && !size.is_power_of_two() {
            return Err(TrainError::Collective {
                iteration: 0,
                what: "tree reduction",
                reason: format!("{size} ranks; the tree needs a power of two"),
            });
        }
        let mut other = vec![0.0; sum.len()];
        let mut out = vec![0.0; sum.len()];
        let mut step = 1;
        while step < size {
            let partner = self
                .world
                .process_at_rank(i32::try_from(rank ^ step).map_err(|_| {
                    TrainError::Collective {
                        iteration: 0,
                        what: "tree reduction",
                        reason: format!("rank {} out of range", rank ^ step),
                    }
                })?);
            send_receive_into(&*sum, &partner, &mut other[..], &partner);
            if rank < (rank ^ step) {
                combine(sum, &other, &mut out);
            } else {
                combine(&other, sum, &mut out);
            }
            sum.copy_from_slice(&out);
            step *= 2;
        }
        Ok(())
    }
}
