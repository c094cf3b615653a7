//! `selftest`: checks, on the board it runs on, what the firmware stands on: the kernel's
//! tasks, queues, timers (and their names) and mutexes, atomics and floating point across task switches, the
//! allocator, the flash rules, and the image checks' cryptography (SHA-256, ECDSA P-256
//! through mbedTLS) against known answers. In the sim that is FreeRTOS's POSIX port; on QEMU our
//! C-SKY port on the real instruction set.
//!
//! One line per check, then `selftest: N passed, M failed`. With `exit`, the board powers off
//! afterwards with status 0 if every check passed and 1 if not (QEMU through its exit device),
//! which is how `scripts/qemu-smoke` gets the verdict.

use crate::config::SHELL_PRIORITY;
use crate::layout;
use crate::platform::Platform;
use crate::shell::command::{CommandError, CommandResult, Context};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use bsp::format::ptable;
use bsp::hal::{Flash, FlashError};
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use kernel::{Mutex, Queue, Timer, FOREVER};

/// The stack of the tasks the checks start, in words.
const WORKER_STACK_WORDS: u16 = 1024;
/// How long a check waits for its workers before it calls them lost.
const WORKER_TIMEOUT: Duration = Duration::from_secs(5);

type Outcome = Result<(), String>;

struct Check {
    name: &'static str,
    run: fn(&'static Platform) -> Outcome,
}

const CHECKS: &[Check] = &[
    Check {
        name: "task spawn, queue round trips, task end",
        run: task_round_trips,
    },
    Check {
        name: "queue order, bound and timeout",
        run: queue_order_bound_timeout,
    },
    Check {
        name: "mutex exclusion and timeout",
        run: mutex_exclusion,
    },
    Check {
        name: "timer one-shot, periodic and names",
        run: timers,
    },
    Check {
        name: "atomics shared by tasks",
        run: atomics,
    },
    Check {
        name: "float state across task switches",
        run: float_state,
    },
    Check {
        name: "allocator alignment and release",
        run: allocator,
    },
    Check {
        name: "flash erase, program and read rules",
        run: flash_rules,
    },
    Check {
        name: "SHA-256 known answers (mbedTLS)",
        run: sha256_vectors,
    },
    Check {
        name: "ECDSA P-256 verification (mbedTLS)",
        run: ecdsa_vector,
    },
];

/// The `selftest [exit]` command.
pub fn command(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    let exit = match args {
        [] => false,
        ["exit"] => true,
        _ => return Err(CommandError::Usage),
    };
    writeln!(ctx.out, "selftest: {} checks", CHECKS.len())?;
    let mut failed = 0;
    for check in CHECKS {
        let start = kernel::now_ms();
        let outcome = (check.run)(ctx.platform);
        let ms = kernel::now_ms().wrapping_sub(start);
        match outcome {
            Ok(()) => writeln!(ctx.out, "  ok    {} ({ms} ms)", check.name)?,
            Err(why) => {
                failed += 1;
                writeln!(ctx.out, "  FAIL  {}: {why}", check.name)?;
            }
        }
    }
    writeln!(
        ctx.out,
        "selftest: {} passed, {failed} failed",
        CHECKS.len() - failed
    )?;
    if exit {
        ctx.platform.reset.power_off(u8::from(failed > 0));
    }
    Ok(())
}

/// FIPS 180-4's examples, and the signing vector's message, one byte at a time too.
fn sha256_vectors(_: &'static Platform) -> Outcome {
    use net::digest::{vector, Sha256};
    let digest = |parts: &[&[u8]]| {
        let mut sha = Sha256::new();
        for part in parts {
            sha.update(part);
        }
        sha.finish()
    };
    let abc = digest(&[b"abc"]);
    ensure(
        abc[..4] == [0xba, 0x78, 0x16, 0xbf] && abc[28..] == [0xf2, 0x00, 0x15, 0xad],
        || format!("sha256(abc) = {abc:02x?}"),
    )?;
    let empty = digest(&[]);
    ensure(empty[..4] == [0xe3, 0xb0, 0xc4, 0x42], || {
        format!("sha256() = {empty:02x?}")
    })?;
    let bytewise: Vec<&[u8]> = vector::MESSAGE.chunks(1).collect();
    ensure(digest(&bytewise) == vector::MESSAGE_SHA256, || {
        String::from("incremental digest differs from the known one")
    })
}

/// A signature made with OpenSSL verifies; the same with one digest bit changed does not.
fn ecdsa_vector(_: &'static Platform) -> Outcome {
    use net::digest::{vector, verify_ecdsa_sha256};
    verify_ecdsa_sha256(
        vector::PUBLIC_KEY_PEM,
        &vector::MESSAGE_SHA256,
        vector::SIGNATURE_DER,
    )
    .map_err(|e| format!("the known signature: {e}"))?;
    let mut tampered = vector::MESSAGE_SHA256;
    tampered[0] ^= 0x80;
    ensure(
        verify_ecdsa_sha256(vector::PUBLIC_KEY_PEM, &tampered, vector::SIGNATURE_DER).is_err(),
        || String::from("a tampered digest verified"),
    )
}

fn ensure(condition: bool, why: impl FnOnce() -> String) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(why())
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Outcome {
    kernel::spawn(name, WORKER_STACK_WORDS, SHELL_PRIORITY, body).map_err(|e| e.to_string())
}

fn queue<T: Send>(capacity: u32) -> Result<Arc<Queue<T>>, String> {
    Queue::new(capacity)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// Waits for `count` workers to report on `done`.
fn join(done: &Queue<u32>, count: usize) -> Result<Vec<u32>, String> {
    (0..count)
        .map(|i| {
            done.receive(WORKER_TIMEOUT)
                .ok_or_else(|| format!("worker {i} of {count} did not finish"))
        })
        .collect()
}

fn task_round_trips(_: &'static Platform) -> Outcome {
    const ROUNDS: u32 = 200;
    // The allocator's and the waits' debug checks would refuse every call of a task that
    // read as an interrupt handler.
    ensure(!kernel::in_isr(), || {
        "a task reads as interrupt context".to_string()
    })?;
    let requests = queue::<u32>(1)?;
    let replies = queue::<u32>(1)?;
    let (rx, tx) = (requests.clone(), replies.clone());
    spawn("st-echo", move || {
        while let Some(n) = rx.receive(FOREVER) {
            if n == u32::MAX {
                break;
            }
            let _ = tx.send(n * 3, FOREVER);
        }
    })?;
    for n in 0..ROUNDS {
        requests
            .send(n, WORKER_TIMEOUT)
            .map_err(|_| "echo task stuck")?;
        let reply = replies.receive(WORKER_TIMEOUT).ok_or("no echo")?;
        ensure(reply == n * 3, || format!("round {n}: echo {reply}"))?;
    }
    requests
        .send(u32::MAX, WORKER_TIMEOUT)
        .map_err(|_| "echo task stuck")?;
    // The finished task deletes itself; the idle task frees it soon after.
    kernel::delay(ms(50));
    let left = kernel::task_list()
        .iter()
        .any(|t| t.name.as_str() == "st-echo");
    ensure(!left, || {
        "the echo task is still listed after it ended".to_string()
    })
}

fn queue_order_bound_timeout(_: &'static Platform) -> Outcome {
    let q = Queue::<u16>::new(3).map_err(|e| e.to_string())?;
    for v in [7, 8, 9] {
        q.send(v, ms(0)).map_err(|_| "send into room failed")?;
    }
    ensure(q.send(10, ms(0)) == Err(10), || {
        "a full queue took an item".to_string()
    })?;
    let got: Vec<u16> = (0..3).filter_map(|_| q.receive(ms(0))).collect();
    ensure(got == [7, 8, 9], || format!("order {got:?}"))?;
    let start = kernel::now_ms();
    ensure(q.receive(ms(30)).is_none(), || {
        "received from an empty queue".to_string()
    })?;
    let waited = kernel::now_ms().wrapping_sub(start);
    ensure((30..500).contains(&waited), || {
        format!("a 30 ms receive timeout took {waited} ms")
    })
}

fn mutex_exclusion(_: &'static Platform) -> Outcome {
    const WORKERS: u32 = 3;
    const ROUNDS: u32 = 300;
    let shared = Arc::new(Mutex::new((0u32, 0u32)).map_err(|e| e.to_string())?);
    let done = queue::<u32>(WORKERS)?;
    for w in 0..WORKERS {
        let (shared, done) = (shared.clone(), done.clone());
        spawn("st-mutex", move || {
            for _ in 0..ROUNDS {
                let mut pair = shared.lock();
                // A switch in the middle of the update: only the lock keeps the pair equal.
                pair.0 += 1;
                kernel::yield_now();
                pair.1 += 1;
            }
            let _ = done.send(w, FOREVER);
        })?;
    }
    join(&done, WORKERS as usize)?;
    let (a, b) = *shared.lock();
    ensure(a == WORKERS * ROUNDS && a == b, || {
        format!("counts {a} and {b}")
    })?;

    // Held by another task, the lock is refused after the wait.
    let held = queue::<u32>(1)?;
    let release = queue::<u32>(1)?;
    let (holder, h, r) = (shared.clone(), held.clone(), release.clone());
    spawn("st-holder", move || {
        let _guard = holder.lock();
        let _ = h.send(0, FOREVER);
        let _ = r.receive(FOREVER);
    })?;
    held.receive(WORKER_TIMEOUT).ok_or("holder did not lock")?;
    let refused = shared.lock_for(ms(20)).is_none();
    release
        .send(0, WORKER_TIMEOUT)
        .map_err(|_| "holder stuck")?;
    ensure(refused, || "locked a mutex another task holds".to_string())?;
    let given_back = shared.lock_for(WORKER_TIMEOUT).is_some();
    ensure(given_back, || "the mutex was not given back".to_string())
}

fn timers(_: &'static Platform) -> Outcome {
    timer_names()?;
    let fired = queue::<u32>(8)?;
    let tx = fired.clone();
    let start = kernel::now_ms();
    let once = Timer::new("st-once", ms(20), false, move || {
        let _ = tx.send(kernel::now_ms(), Duration::ZERO);
    })
    .map_err(|e| e.to_string())?;
    once.start(WORKER_TIMEOUT).map_err(|e| e.to_string())?;
    let at = fired
        .receive(ms(1000))
        .ok_or("the one-shot timer did not fire")?;
    let after = at.wrapping_sub(start);
    ensure((20..500).contains(&after), || {
        format!("a 20 ms one-shot fired after {after} ms")
    })?;
    ensure(fired.receive(ms(60)).is_none(), || {
        "the one-shot timer fired twice".to_string()
    })?;
    drop(once);

    let count = Arc::new(AtomicU32::new(0));
    let ticks = count.clone();
    let tx = fired.clone();
    let periodic = Timer::new("st-every", ms(10), true, move || {
        if ticks.fetch_add(1, Ordering::SeqCst) + 1 == 5 {
            let _ = tx.send(kernel::now_ms(), Duration::ZERO);
        }
    })
    .map_err(|e| e.to_string())?;
    let start = kernel::now_ms();
    periodic.start(WORKER_TIMEOUT).map_err(|e| e.to_string())?;
    let fifth = fired.receive(ms(1000)).ok_or("no fifth period")?;
    periodic.stop(WORKER_TIMEOUT).map_err(|e| e.to_string())?;
    let after = fifth.wrapping_sub(start);
    ensure((50..1000).contains(&after), || {
        format!("five 10 ms periods took {after} ms")
    })
}

/// Fills a frame of the stack with a pattern, where earlier calls had theirs.
#[inline(never)]
fn scribble_on_the_stack() -> u8 {
    let frame = core::hint::black_box([0xA5u8; 512]);
    frame[usize::from(frame[0]) % frame.len()]
}

/// FreeRTOS keeps the pointer to a timer's name, not a copy: the name must still read back
/// after other calls have reused the stack the timer was created from.
fn timer_names() -> Outcome {
    let names = ["st-name-one", "st-name-two"];
    let timers = names
        .iter()
        .map(|name| Timer::new(name, ms(1000), false, || {}).map_err(|e| e.to_string()))
        .collect::<Result<Vec<Timer>, String>>()?;
    core::hint::black_box(scribble_on_the_stack());
    let third = Timer::new("st-name-three", ms(1000), false, || {}).map_err(|e| e.to_string())?;
    core::hint::black_box(scribble_on_the_stack());
    for (timer, name) in timers.iter().zip(names).chain([(&third, "st-name-three")]) {
        ensure(timer.name() == name, || {
            format!("timer {name:?} reads back as {:?}", timer.name())
        })?;
    }
    Ok(())
}

fn atomics(_: &'static Platform) -> Outcome {
    const WORKERS: u32 = 2;
    const ROUNDS: u32 = 20_000;
    let counter = Arc::new(AtomicU32::new(0));
    let maximum = Arc::new(AtomicU32::new(0));
    let done = queue::<u32>(WORKERS)?;
    for w in 0..WORKERS {
        let (counter, maximum, done) = (counter.clone(), maximum.clone(), done.clone());
        spawn("st-atomic", move || {
            for _ in 0..ROUNDS {
                let seen = counter.fetch_add(1, Ordering::SeqCst) + 1;
                maximum.fetch_max(seen, Ordering::SeqCst);
            }
            let _ = done.send(w, FOREVER);
        })?;
    }
    join(&done, WORKERS as usize)?;
    let total = counter.load(Ordering::SeqCst);
    let max = maximum.load(Ordering::SeqCst);
    ensure(total == WORKERS * ROUNDS && max == total, || {
        format!("counter {total}, maximum {max}, want {}", WORKERS * ROUNDS)
    })?;
    let swapped = counter.compare_exchange(total, 7, Ordering::SeqCst, Ordering::SeqCst);
    let refused = counter.compare_exchange(total, 8, Ordering::SeqCst, Ordering::SeqCst);
    ensure(swapped == Ok(total) && refused == Err(7), || {
        format!("compare-exchange gave {swapped:?} then {refused:?}")
    })
}

/// Float work that keeps its values in registers across `yield_every` yields.
fn float_work(seed: f32, rounds: u32, yield_every: u32) -> u32 {
    let (mut a, mut b, mut c) = (seed, seed * 0.5, seed + 1.0);
    for i in 0..rounds {
        a = a * 0.999 + b * 0.01;
        b = b * 0.998 - c * 0.003;
        c = c * 0.997 + a * 0.002;
        if i % yield_every == 0 {
            kernel::yield_now();
        }
    }
    (a + b + c).to_bits()
}

fn float_state(_: &'static Platform) -> Outcome {
    const ROUNDS: u32 = 20_000;
    let seeds = [1.5f32, -2.25, 3.125];
    let done = queue::<(usize, u32)>(seeds.len() as u32)?;
    for (i, seed) in seeds.iter().copied().enumerate() {
        let done = done.clone();
        spawn("st-float", move || {
            let _ = done.send((i, float_work(seed, ROUNDS, 97)), FOREVER);
        })?;
    }
    for _ in seeds {
        let (i, bits) = done
            .receive(WORKER_TIMEOUT)
            .ok_or("a float worker did not finish")?;
        let want = float_work(seeds[i], ROUNDS, u32::MAX);
        ensure(bits == want, || {
            format!(
                "seed {}: {} with switches, {} without",
                seeds[i],
                f32::from_bits(bits),
                f32::from_bits(want)
            )
        })?;
    }
    Ok(())
}

fn allocator(_: &'static Platform) -> Outcome {
    #[repr(align(64))]
    struct Aligned64([u8; 100]);
    // Tasks the earlier checks ended are freed by the idle task: let it run first.
    kernel::delay(ms(50));
    let before = kernel::heap_stats().free;
    {
        let small: Vec<u8> = (0..=255).collect();
        let aligned: Vec<Arc<Aligned64>> = (0..8).map(|_| Arc::new(Aligned64([7; 100]))).collect();
        for block in &aligned {
            let addr = Arc::as_ptr(block) as usize;
            ensure(addr.is_multiple_of(64), || {
                format!("a 64-aligned block at {addr:#x}")
            })?;
            ensure(block.0.iter().all(|b| *b == 7), || {
                "block contents".to_string()
            })?;
        }
        ensure(
            small.iter().enumerate().all(|(i, b)| usize::from(*b) == i),
            || "vector contents".to_string(),
        )?;
    }
    let after = kernel::heap_stats().free;
    ensure(after == before, || {
        format!("{before} bytes free before, {after} after")
    })
}

/// Checks the flash rules on the first sector of `app_ota` (an image waiting there would be
/// lost, so the sector is put back as it was).
fn flash_rules(platform: &'static Platform) -> Outcome {
    let table = layout::partition_table(platform)?;
    let sector = table
        .find(ptable::APP_OTA)
        .ok_or("no app_ota partition")?
        .offset;
    let mut flash = platform.flash.lock();
    let size = flash.geometry().sector_size as usize;
    let mut saved = alloc::vec![0u8; size];
    flash.read(sector, &mut saved).map_err(|e| e.to_string())?;
    let outcome = flash_rules_on(&mut *flash, sector);
    let restored = restore(&mut *flash, sector, &saved);
    outcome.and(restored)
}

fn flash_rules_on(flash: &mut dyn Flash, sector: u32) -> Outcome {
    let geometry = flash.geometry();
    let page = geometry.page_size;
    let fail = |e: FlashError| e.to_string();
    let read = |flash: &mut dyn Flash, offset: u32, len: usize| -> Result<Vec<u8>, String> {
        let mut buf = alloc::vec![0u8; len];
        flash.read(offset, &mut buf).map_err(fail)?;
        Ok(buf)
    };

    flash.erase_sector(sector).map_err(fail)?;
    ensure(
        read(flash, sector, geometry.sector_size as usize)?
            .iter()
            .all(|b| *b == 0xFF),
        || "an erased sector is not all 0xFF".to_string(),
    )?;

    let pattern: Vec<u8> = (0..page).map(|i| (i as u8) ^ 0x5A).collect();
    flash.program(sector, &pattern).map_err(fail)?;
    ensure(read(flash, sector, pattern.len())? == pattern, || {
        "a programmed page reads back different".to_string()
    })?;

    // Programming only clears bits: more zeros are fine, a one over a zero is refused.
    flash.program(sector + page, &[0xF0]).map_err(fail)?;
    flash.program(sector + page, &[0x30]).map_err(fail)?;
    let refused = flash.program(sector + page, &[0x38]);
    ensure(
        refused
            == Err(FlashError::BitsNotErased {
                offset: sector + page,
            }),
        || format!("a 1 over a 0 gave {refused:?}"),
    )?;
    ensure(read(flash, sector + page, 1)? == [0x30], || {
        "a refused program changed the byte".to_string()
    })?;

    let crossing = flash.program(sector + 2 * page - 1, &[0, 0]);
    ensure(
        matches!(crossing, Err(FlashError::CrossesPage { .. })),
        || format!("a program across a page gave {crossing:?}"),
    )?;
    let unaligned = flash.erase_sector(sector + page);
    ensure(
        matches!(unaligned, Err(FlashError::UnalignedErase { .. })),
        || format!("an erase inside a sector gave {unaligned:?}"),
    )?;
    let outside = flash.read(geometry.size - 1, &mut [0u8; 2]);
    ensure(
        matches!(outside, Err(FlashError::OutOfRange { .. })),
        || format!("a read past the end gave {outside:?}"),
    )?;

    let next = read(flash, sector + geometry.sector_size, 1)?;
    flash.erase_sector(sector).map_err(fail)?;
    ensure(read(flash, sector, 1)? == [0xFF], || {
        "the erase did not reset the sector".to_string()
    })?;
    ensure(
        read(flash, sector + geometry.sector_size, 1)? == next,
        || "the erase reached the next sector".to_string(),
    )
}

/// Puts `saved` back into the sector at `sector`, page by page (erased pages need no write).
fn restore(flash: &mut dyn Flash, sector: u32, saved: &[u8]) -> Outcome {
    let fail = |e: FlashError| format!("restoring the sector: {e}");
    flash.erase_sector(sector).map_err(fail)?;
    let page = flash.geometry().page_size as usize;
    for (i, chunk) in saved.chunks(page).enumerate() {
        if chunk.iter().any(|b| *b != 0xFF) {
            flash
                .program(sector + (i * page) as u32, chunk)
                .map_err(fail)?;
        }
    }
    Ok(())
}
