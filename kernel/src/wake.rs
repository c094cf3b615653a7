//! A wake-up that an interrupt gives a task: how a device's driver task sleeps until its
//! device has something for it (the radio's driver until a frame is ready).

use crate::{Error, Queue};
use alloc::boxed::Box;
use core::time::Duration;

/// A binary wake-up: one task waits for it, the device's interrupt raises it. Raises that
/// come while nobody waits count as one, which the next wait takes at once.
#[derive(Clone, Copy)]
pub struct Wake {
    /// A queue of one item of no size: a binary semaphore. Never freed: an interrupt may raise
    /// it at any time.
    raised: &'static Queue<()>,
    /// On the sim, the interrupt line that a host thread raises.
    #[cfg(target_os = "linux")]
    line: crate::sim_irq::Line,
}

impl Wake {
    /// A new wake-up; it lives for good. On the sim it takes one of the 32 simulated
    /// interrupt lines ([`Error::OutOfMemory`] when none is left).
    pub fn new() -> Result<Wake, Error> {
        let raised: &'static Queue<()> = Box::leak(Box::new(Queue::new(1)?));
        Ok(Wake {
            raised,
            #[cfg(target_os = "linux")]
            line: crate::sim_irq::Line::attach(raised)?,
        })
    }

    /// Waits up to `wait` for a raise; whether one came. From a task only.
    pub fn wait(&self, wait: Duration) -> bool {
        self.raised.receive(wait).is_some()
    }

    /// Raises the wake-up. On the sim from any thread, a host thread standing for the hardware
    /// included: it is taken as a simulated interrupt (see `sim_irq`), at once when the sim is
    /// idle, else at the next tick. On the chip from the device's interrupt handler (the
    /// waiting task runs when the handler ends, if it outranks the interrupted one) or from a
    /// task. Never blocks.
    pub fn raise(&self) {
        #[cfg(target_os = "linux")]
        self.line.raise();
        #[cfg(not(target_os = "linux"))]
        if crate::in_isr() {
            // SAFETY: in an interrupt handler. A handler may hold another context already:
            // each only pends the same switch (the port's yield sets the switch interrupt's
            // pending bit), taken once the handler has returned.
            let mut isr = unsafe { crate::IsrContext::enter() };
            // A full queue: the wake is raised already.
            let _ = self.raised.send_from_isr(&mut isr, ());
        } else {
            let _ = self.raised.send((), Duration::ZERO);
        }
    }
}
