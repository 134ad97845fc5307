//! What a domain builds at most once per Context, on first use, and closes
//! when the run ends: the AWS clients, the SSH connections. Kept here by
//! type, so the core names none of them and a second Context builds its own.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::core::runtime::Runtime;

pub trait Service: Any + Send + Sync {
    /// The run is over: close what is still open.
    fn shutdown(&self, _runtime: &Runtime) {}
}

#[derive(Default)]
pub struct Services {
    built: Mutex<HashMap<TypeId, Arc<dyn Service>>>,
}

impl Services {
    /// The `T` of this Context, built by `build` the first time it is asked
    /// for. A failed build is not kept: the next call tries again.
    pub fn get<T: Service, E>(&self, build: impl FnOnce() -> Result<T, E>) -> Result<Arc<T>, E> {
        if let Some(found) = self.find::<T>() {
            return Ok(found);
        }
        // Built unlocked: building may take a while (it may ask the network).
        // Two first uses at once build twice; the first one kept wins.
        let fresh = Arc::new(build()?);
        let kept = self
            .lock()
            .entry(TypeId::of::<T>())
            .or_insert_with(|| fresh.clone())
            .clone();
        Ok(downcast(kept).unwrap_or(fresh))
    }

    /// The `T` of this Context, if one was built.
    fn find<T: Service>(&self) -> Option<Arc<T>> {
        let found = self.lock().get(&TypeId::of::<T>()).cloned()?;
        downcast(found)
    }

    /// Close every service, in no particular order.
    pub fn shutdown(&self, runtime: &Runtime) {
        let services: Vec<Arc<dyn Service>> = self.lock().values().cloned().collect();
        for service in services {
            service.shutdown(runtime);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TypeId, Arc<dyn Service>>> {
        self.built.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Entries are keyed by their own type: this finds the one stored.
fn downcast<T: Service>(service: Arc<dyn Service>) -> Option<Arc<T>> {
    let any: Arc<dyn Any + Send + Sync> = service;
    any.downcast::<T>().ok()
}
