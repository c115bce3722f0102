//! Trace and span ids: a per-thread wyrand generator, seeded from the OS-randomised hasher
//! keys. Ids need to be unique, not secret; this costs about a nanosecond.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

pub(crate) struct Rng(u64);

impl Rng {
    #[cfg(test)]
    pub(crate) fn seeded(seed: u64) -> Self {
        Rng(seed)
    }

    fn from_entropy() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(std::process::id() as u64);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64);
        hasher.write_u64(now.unwrap_or(0));
        Rng(hasher.finish())
    }

    /// wyrand.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    pub(crate) fn span_id(&mut self) -> u64 {
        loop {
            let id = self.next_u64();
            if id != 0 {
                return id;
            }
        }
    }

    pub(crate) fn trace_id(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.span_id())
    }
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(Rng::from_entropy().0);
}

/// Runs `f` with this thread's generator.
pub(crate) fn with_rng<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    STATE.with(|state| {
        let mut rng = Rng(state.get());
        let out = f(&mut rng);
        state.set(rng.0);
        out
    })
}
