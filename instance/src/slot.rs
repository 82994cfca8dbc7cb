//! A lock-free single-item mailbox for boxed values, used to hand IR kernels to the
//! audio thread and to hand retired ones back for freeing elsewhere.
//!
//! The slot owns at most one `Box<T>`. [`Slot::put`] and [`Slot::take`] are one atomic
//! instruction each and never allocate or free, so the audio thread may call them;
//! [`Slot::replace`] returns the previous value for the caller to drop (off the audio
//! thread).

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Holds zero or one `Box<T>`; safe to share between threads.
pub struct Slot<T> {
    ptr: AtomicPtr<T>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

impl<T> Slot<T> {
    /// Stores `value` if the slot is empty; otherwise gives it back. Realtime-safe.
    ///
    /// # Errors
    /// The value itself when the slot is occupied.
    pub fn put(&self, value: Box<T>) -> Result<(), Box<T>> {
        let p = Box::into_raw(value);
        match self
            .ptr
            .compare_exchange(ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            // SAFETY: `p` came from `Box::into_raw` above and was not published.
            Err(_) => Err(unsafe { Box::from_raw(p) }),
        }
    }

    /// Stores `value`, returning what was there (drop it off the audio thread).
    pub fn replace(&self, value: Option<Box<T>>) -> Option<Box<T>> {
        let p = value.map_or(ptr::null_mut(), Box::into_raw);
        let old = self.ptr.swap(p, Ordering::AcqRel);
        // SAFETY: every non-null pointer in the slot came from `Box::into_raw` and is
        // owned by the slot; the swap transferred that ownership to us.
        (!old.is_null()).then(|| unsafe { Box::from_raw(old) })
    }

    /// Removes and returns the value, if any. Realtime-safe (it does not free).
    pub fn take(&self) -> Option<Box<T>> {
        self.replace(None)
    }

    /// True when the slot holds a value.
    pub fn is_occupied(&self) -> bool {
        !self.ptr.load(Ordering::Acquire).is_null()
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

// SAFETY: the slot transfers ownership of a `Box<T>` between threads, which is sound
// exactly when `T: Send`; shared access only moves the pointer atomically.
unsafe impl<T: Send> Send for Slot<T> {}
// SAFETY: as above; no `&T` is ever handed out through a shared reference.
unsafe impl<T: Send> Sync for Slot<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn put_take_replace_and_drop_free_each_value_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Slot::default();
        assert!(slot.put(Box::new(Counted(drops.clone()))).is_ok());
        assert!(slot.is_occupied());
        let refused = slot.put(Box::new(Counted(drops.clone()))).unwrap_err();
        drop(refused);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        let old = slot
            .replace(Some(Box::new(Counted(drops.clone()))))
            .unwrap();
        drop(old);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert!(slot.take().is_some());
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        assert!(slot.take().is_none());
        assert!(slot.put(Box::new(Counted(drops.clone()))).is_ok());
        drop(slot);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            4,
            "dropping the slot frees its value"
        );
    }

    #[test]
    fn values_cross_threads_exactly_once() {
        let slot = Arc::new(Slot::<u64>::default());
        let producer = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                for i in 0..10_000u64 {
                    let mut v = Box::new(i);
                    loop {
                        match slot.put(v) {
                            Ok(()) => break,
                            Err(back) => {
                                v = back;
                                std::hint::spin_loop();
                            }
                        }
                    }
                }
            })
        };
        let mut next = 0;
        while next < 10_000 {
            if let Some(v) = slot.take() {
                assert_eq!(*v, next);
                next += 1;
            }
        }
        producer.join().unwrap();
    }
}
