//! The kernel primitives, run for real on the FreeRTOS POSIX port.
//!
//! The scheduler can start only once per process and only FreeRTOS tasks may call the kernel,
//! so this test has its own harness: one task runs every case in turn, prints a line per
//! case and the closing `N passed, N failed`, and exits with the verdict.

use kernel::{MisuseReaction, Mutex, Queue, Timer, FOREVER};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[global_allocator]
static HEAP: kernel::Heap = kernel::Heap;

type Outcome = Result<(), String>;

fn ensure(cond: bool, what: impl Into<String>) -> Outcome {
    if cond {
        Ok(())
    } else {
        Err(what.into())
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn spawned_task_runs_and_ends() -> Outcome {
    let done = Arc::new(Queue::<u32>::new(1).map_err(|e| e.to_string())?);
    let before = kernel::task_list().len();
    let tx = done.clone();
    kernel::spawn("worker", 512, 3, move || {
        tx.send(42, FOREVER).ok();
    })
    .map_err(|e| e.to_string())?;
    ensure(done.receive(ms(1000)) == Some(42), "worker did not report")?;
    // The finished task deletes itself; the idle task reclaims it soon after.
    kernel::delay(ms(20));
    let after = kernel::task_list().len();
    ensure(after == before, format!("task count {before} -> {after}"))
}

fn invalid_priority_is_refused() -> Outcome {
    let max = kernel::max_priority();
    ensure(
        kernel::spawn("bad", 256, max, || {}) == Err(kernel::Error::InvalidPriority),
        "priority == configMAX_PRIORITIES accepted",
    )
}

fn queue_is_fifo_and_bounded() -> Outcome {
    let q = Queue::<u16>::new(3).map_err(|e| e.to_string())?;
    for v in [1, 2, 3] {
        ensure(q.send(v, ms(0)).is_ok(), "send into room failed")?;
    }
    ensure(
        q.send(4, ms(0)) == Err(4),
        "full queue did not hand the item back",
    )?;
    ensure(q.len() == 3, "len")?;
    let got: Vec<_> = (0..3).filter_map(|_| q.receive(ms(0))).collect();
    ensure(got == [1, 2, 3], format!("order {got:?}"))?;
    ensure(q.is_empty(), "not empty")
}

fn queue_receive_times_out() -> Outcome {
    let q = Queue::<u8>::new(1).map_err(|e| e.to_string())?;
    let start = kernel::now_ms();
    ensure(q.receive(ms(30)).is_none(), "received from an empty queue")?;
    let waited = kernel::now_ms().wrapping_sub(start);
    ensure(waited >= 30, format!("waited only {waited} ms"))
}

struct DropCounter(Arc<AtomicU32>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn queue_moves_owned_items_and_drops_leftovers() -> Outcome {
    let drops = Arc::new(AtomicU32::new(0));
    {
        let q = Queue::<DropCounter>::new(4).map_err(|e| e.to_string())?;
        for _ in 0..3 {
            q.send(DropCounter(drops.clone()), ms(0))
                .map_err(|_| "send")?;
        }
        ensure(drops.load(Ordering::SeqCst) == 0, "sending dropped an item")?;
        let one = q.receive(ms(0)).ok_or("receive")?;
        drop(one);
        ensure(
            drops.load(Ordering::SeqCst) == 1,
            "received item not dropped once",
        )?;
    }
    ensure(
        drops.load(Ordering::SeqCst) == 3,
        format!(
            "{} drops, want 3: leftovers leaked",
            drops.load(Ordering::SeqCst)
        ),
    )?;
    ensure(Arc::strong_count(&drops) == 1, "a queued Arc leaked")
}

fn send_from_isr_wakes_a_waiting_task() -> Outcome {
    let to_task = Arc::new(Queue::<u32>::new(2).map_err(|e| e.to_string())?);
    let back = Arc::new(Queue::<u32>::new(2).map_err(|e| e.to_string())?);
    let (rx, tx) = (to_task.clone(), back.clone());
    kernel::spawn("isr-rx", 512, 5, move || {
        if let Some(v) = rx.receive(ms(1000)) {
            tx.send(v + 1, FOREVER).ok();
        }
    })
    .map_err(|e| e.to_string())?;
    kernel::delay(ms(10));
    let sent = kernel::simulate_interrupt(|isr| to_task.send_from_isr(isr, 7));
    ensure(sent.is_ok(), "send_from_isr failed")?;
    ensure(
        back.receive(ms(1000)) == Some(8),
        "the woken task did not answer",
    )?;
    // A full queue gives the item back from an interrupt too.
    let full = Queue::<u8>::new(1).map_err(|e| e.to_string())?;
    full.send(1, ms(0)).map_err(|_| "send")?;
    let refused = kernel::simulate_interrupt(|isr| full.send_from_isr(isr, 2));
    ensure(refused == Err(2), "full queue accepted from an interrupt")
}

fn task_only_services_are_caught_in_interrupt_context() -> Outcome {
    ensure(!kernel::in_isr(), "a task reads as interrupt context")?;
    if !kernel::ISR_CHECKS {
        println!("  (a release build: the checks are compiled out)");
        return Ok(());
    }
    let queue = Queue::<u8>::new(1).map_err(|e| e.to_string())?;
    let mutex = Mutex::new(()).map_err(|e| e.to_string())?;
    let free_before = kernel::heap_stats().free;
    kernel::set_misuse_reaction(MisuseReaction::Refuse);
    let refused_before = kernel::refused_misuses();
    let (in_handler, allocated, sent, locked) = kernel::simulate_interrupt(|_| {
        let mut block = Vec::<u8>::new();
        let allocated = block.try_reserve(64).is_ok();
        let sent = queue.send(1, ms(10)).is_ok();
        let locked = mutex.lock_for(ms(10)).is_some();
        kernel::delay(ms(10));
        (kernel::in_isr(), allocated, sent, locked)
    });
    let refused = kernel::refused_misuses() - refused_before;
    kernel::set_misuse_reaction(MisuseReaction::Panic);
    ensure(in_handler, "a simulated interrupt is not interrupt context")?;
    ensure(
        !kernel::in_isr(),
        "still interrupt context after the handler",
    )?;
    ensure(
        !allocated,
        "an allocation in an interrupt handler went through",
    )?;
    ensure(!sent, "a queue send in an interrupt handler went through")?;
    ensure(!locked, "a mutex lock in an interrupt handler went through")?;
    ensure(
        refused == 4,
        format!("{refused} misuses refused, want 4 (allocation, send, lock, delay)"),
    )?;
    ensure(
        kernel::heap_stats().free == free_before,
        "the refused allocation took heap",
    )?;
    // In task context the same calls work.
    ensure(queue.send(1, ms(10)).is_ok(), "send from the task")?;
    ensure(mutex.lock_for(ms(10)).is_some(), "lock from the task")?;
    ensure(
        Vec::<u8>::new().try_reserve(64).is_ok(),
        "allocation from the task",
    )
}

fn mutex_serialises_tasks() -> Outcome {
    let counter = Arc::new(Mutex::new(0u32).map_err(|e| e.to_string())?);
    let done = Arc::new(Queue::<()>::new(4).map_err(|e| e.to_string())?);
    for name in ["inc-a", "inc-b"] {
        let (counter, done) = (counter.clone(), done.clone());
        kernel::spawn(name, 512, 2, move || {
            for i in 0..500 {
                let mut c = counter.lock();
                let v = *c;
                if i % 50 == 0 {
                    kernel::yield_now();
                }
                *c = v + 1;
            }
            done.send((), FOREVER).ok();
        })
        .map_err(|e| e.to_string())?;
    }
    for _ in 0..2 {
        ensure(
            done.receive(ms(5000)).is_some(),
            "incrementer did not finish",
        )?;
    }
    let total = *counter.lock();
    ensure(total == 1000, format!("counter {total}, want 1000"))
}

fn mutex_lock_for_times_out_while_held() -> Outcome {
    let m = Arc::new(Mutex::new(()).map_err(|e| e.to_string())?);
    let held = Arc::new(Queue::<()>::new(1).map_err(|e| e.to_string())?);
    let release = Arc::new(Queue::<()>::new(1).map_err(|e| e.to_string())?);
    let (m2, held2, release2) = (m.clone(), held.clone(), release.clone());
    kernel::spawn("holder", 512, 2, move || {
        let _guard = m2.lock();
        held2.send((), FOREVER).ok();
        release2.receive(FOREVER);
    })
    .map_err(|e| e.to_string())?;
    ensure(held.receive(ms(1000)).is_some(), "holder did not lock")?;
    ensure(m.lock_for(ms(20)).is_none(), "locked a held mutex")?;
    release.send((), FOREVER).ok();
    let relocked = m.lock_for(ms(1000)).is_some();
    ensure(relocked, "mutex not released")
}

fn timers_fire_stop_and_free_their_closure() -> Outcome {
    let fired = Arc::new(AtomicU32::new(0));
    let f = fired.clone();
    let periodic = Timer::new("tick", ms(10), true, move || {
        f.fetch_add(1, Ordering::SeqCst);
    })
    .map_err(|e| e.to_string())?;
    periodic.start(FOREVER).map_err(|e| e.to_string())?;
    kernel::delay(ms(100));
    periodic.stop(FOREVER).map_err(|e| e.to_string())?;
    kernel::delay(ms(5));
    let n = fired.load(Ordering::SeqCst);
    ensure(n >= 3, format!("periodic timer fired {n} times in 100 ms"))?;
    kernel::delay(ms(50));
    ensure(fired.load(Ordering::SeqCst) == n, "fired after stop")?;

    let once = Arc::new(AtomicU32::new(0));
    let o = once.clone();
    let one_shot = Timer::new("once", ms(5), false, move || {
        o.fetch_add(1, Ordering::SeqCst);
    })
    .map_err(|e| e.to_string())?;
    one_shot.start(FOREVER).map_err(|e| e.to_string())?;
    kernel::delay(ms(60));
    ensure(
        once.load(Ordering::SeqCst) == 1,
        "one-shot did not fire exactly once",
    )?;

    drop(periodic);
    drop(one_shot);
    // The closures (holding the Arcs) are freed by the timer daemon after the deletes.
    kernel::delay(ms(20));
    ensure(
        Arc::strong_count(&fired) == 1 && Arc::strong_count(&once) == 1,
        "timer closures were not released after drop",
    )
}

/// Fills `depth` KiB of the stack with a pattern, below where the caller's frames were.
#[inline(never)]
fn scribble_on_the_stack(depth: u32) -> u32 {
    let frame = std::hint::black_box([0xA5u8; 1024]);
    let below = if depth > 1 {
        scribble_on_the_stack(depth - 1)
    } else {
        0
    };
    below + u32::from(frame[usize::from(frame[0]) % 1024])
}

fn timer_names_outlive_their_creation() -> Outcome {
    let names = ["first-timer", "second.timer"];
    let timers = names
        .iter()
        .map(|name| Timer::new(name, ms(1000), false, || {}).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    for (timer, name) in timers.iter().zip(names) {
        ensure(
            timer.name() == name,
            format!("read back {:?} right after creating {name:?}", timer.name()),
        )?;
    }
    std::hint::black_box(scribble_on_the_stack(8));
    let long = Timer::new("a-name-longer-than-fifteen", ms(1000), true, || {})
        .map_err(|e| e.to_string())?;
    std::hint::black_box(scribble_on_the_stack(8));
    for (timer, name) in timers.iter().zip(names) {
        ensure(
            timer.name() == name,
            format!(
                "read back {:?} for {name:?} after other calls",
                timer.name()
            ),
        )?;
    }
    ensure(
        long.name() == "a-name-longer-t",
        format!("a long name reads back as {:?}", long.name()),
    )
}

fn delay_and_clock_agree() -> Outcome {
    let start = kernel::now_ms();
    kernel::delay(ms(25));
    let waited = kernel::now_ms().wrapping_sub(start);
    ensure(
        (25..1000).contains(&waited),
        format!("delay(25 ms) took {waited} ms"),
    )
}

fn tick_follows_the_host_clock() -> Outcome {
    let host_start = std::time::Instant::now();
    let tick_start = kernel::now_ms();
    kernel::delay(ms(10_000));
    let ticks = kernel::now_ms().wrapping_sub(tick_start);
    let host = host_start.elapsed().as_millis() as u32;
    println!("  10 s: kernel {ticks} ms, host {host} ms");
    ensure(
        ticks.abs_diff(host) * 100 <= host,
        format!("the kernel counted {ticks} ms while the host counted {host} ms"),
    )
}

fn heap_honours_alignment_and_counts() -> Outcome {
    #[repr(align(64))]
    struct Wide([u8; 100]);
    let before = kernel::heap_stats();
    let boxes: Vec<Box<Wide>> = (0..8).map(|_| Box::new(Wide([1; 100]))).collect();
    for b in &boxes {
        ensure(
            (&**b as *const Wide as usize).is_multiple_of(64),
            "misaligned allocation",
        )?;
        ensure(b.0.iter().all(|x| *x == 1), "contents")?;
    }
    let big = vec![0u8; 32 * 1024];
    let during = kernel::heap_stats();
    ensure(
        during.free + 32 * 1024 <= before.free,
        "a 32 KiB block did not reduce free heap",
    )?;
    drop(big);
    drop(boxes);
    let after = kernel::heap_stats();
    ensure(
        after.free == before.free,
        format!("leak: {} -> {}", before.free, after.free),
    )?;
    ensure(
        after.min_free <= during.free,
        "minimum ever free is above a seen value",
    )?;
    ensure(
        before.total == 200 * 1024,
        format!(
            "configTOTAL_HEAP_SIZE {}, want the chip's 200 KiB",
            before.total
        ),
    )
}

fn task_list_shows_every_task() -> Outcome {
    let list = kernel::task_list();
    let names: Vec<&str> = list.iter().map(|t| t.name.as_str()).collect();
    for want in ["IDLE", "Tmr Svc", "init"] {
        ensure(
            names.contains(&want),
            format!("{want} missing from {names:?}"),
        )?;
    }
    let me = list.iter().find(|t| t.name == "init").ok_or("init")?;
    ensure(
        me.state == kernel::TaskState::Running,
        format!("init is {:?}", me.state),
    )?;
    ensure(
        me.priority == u32::from(kernel::init_priority()),
        "init priority",
    )?;
    ensure(
        list.iter().all(|t| t.stack_high_water_words > 0),
        "a task reports no stack high-water mark",
    )
}

type Case = (&'static str, fn() -> Outcome);

const CASES: &[Case] = &[
    ("spawned_task_runs_and_ends", spawned_task_runs_and_ends),
    ("invalid_priority_is_refused", invalid_priority_is_refused),
    ("queue_is_fifo_and_bounded", queue_is_fifo_and_bounded),
    ("queue_receive_times_out", queue_receive_times_out),
    (
        "queue_moves_owned_items_and_drops_leftovers",
        queue_moves_owned_items_and_drops_leftovers,
    ),
    (
        "send_from_isr_wakes_a_waiting_task",
        send_from_isr_wakes_a_waiting_task,
    ),
    (
        "task_only_services_are_caught_in_interrupt_context",
        task_only_services_are_caught_in_interrupt_context,
    ),
    ("mutex_serialises_tasks", mutex_serialises_tasks),
    (
        "mutex_lock_for_times_out_while_held",
        mutex_lock_for_times_out_while_held,
    ),
    (
        "timers_fire_stop_and_free_their_closure",
        timers_fire_stop_and_free_their_closure,
    ),
    (
        "timer_names_outlive_their_creation",
        timer_names_outlive_their_creation,
    ),
    ("delay_and_clock_agree", delay_and_clock_agree),
    ("tick_follows_the_host_clock", tick_follows_the_host_clock),
    (
        "heap_honours_alignment_and_counts",
        heap_honours_alignment_and_counts,
    ),
    ("task_list_shows_every_task", task_list_shows_every_task),
];

fn main() {
    kernel::start(2048, || {
        let mut failed = 0;
        for (name, case) in CASES {
            match case() {
                Ok(()) => println!("test {name} ... ok"),
                Err(why) => {
                    failed += 1;
                    println!("test {name} ... FAILED: {why}");
                }
            }
        }
        println!("{} passed, {} failed", CASES.len() - failed, failed);
        std::process::exit(i32::from(failed != 0));
    })
}
