//! When things hang: what `rt.tasks()` shows of a stuck program, and the
//! report of a deadlock, caught at the moment it forms.
//!
//! ```text
//! cargo run --release --example when_things_hang
//! ```
//!
//! Part 1 is a small service whose requests hang on a slow dependency: the
//! snapshot is the thread dump that says who waits on whom, and where.
//! Part 2 is a mistake that can never end (an actor method that waits on a
//! later call to its own actor): with `AntiPatterns::Deny` the wait fails at
//! once with `Error::Deadlock`, naming every task and line of the cycle;
//! with the default `Warn`, the same report is logged once and the wait goes
//! on, as it would without the detector.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use taskref::{AntiPatterns, Error, Runtime, TaskState};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    a_stuck_program()?;
    a_deadlock()?;
    a_deadlock_under_warn()?;
    Ok(())
}

/// Two requests, each fanning out to a lookup that waits on a connection
/// nobody opens: print the snapshot, then let them finish.
fn a_stuck_program() -> Result<(), Box<dyn std::error::Error>> {
    println!("== 1. a program that hangs: rt.tasks()\n");
    let rt = Runtime::builder().num_cpus(2).build()?;
    let connected = Arc::new(AtomicBool::new(false));
    let link = Arc::clone(&connected);
    let connection = rt
        .remote_blocking(move |_: ()| {
            while !link.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        })
        .name("connect to db")
        .remote(());
    let lookup = rt
        .remote(|(): (), key: u32| async move { key * 2 })
        .name("lookup");
    let inner = rt.clone();
    let request = rt
        .remote(move |user: u32| {
            let (inner, lookup, connection) = (inner.clone(), lookup.clone(), connection.clone());
            async move {
                let keys: Vec<_> = (0..3)
                    .map(|k| lookup.remote((&connection, user * 10 + k)))
                    .collect();
                let profile = inner.spawn(async move { user });
                let values = taskref::get_all(keys).await?;
                Ok::<_, Error>((profile.await?, values))
            }
        })
        .name("request");
    let requests: Vec<_> = (1..=2).map(|user| request.remote(user)).collect();
    // Let the program get stuck, then look.
    while rt
        .tasks()
        .iter()
        .filter(|t| matches!(t.state, TaskState::Blocked { .. }))
        .count()
        < 2
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(250));
    println!("{}", rt.tasks());
    connected.store(true, Ordering::SeqCst);
    for done in taskref::block_get_all(requests)? {
        done?;
    }
    Ok(())
}

/// An actor method that blocks on a call it made to its own actor: that
/// call can only start once this one ends.
fn a_deadlock() -> Result<(), Box<dyn std::error::Error>> {
    println!("== 2. a deadlock, caught when it forms (AntiPatterns::Deny)\n");
    let rt = Runtime::builder()
        .anti_patterns(AntiPatterns::Deny)
        .build()?;
    let ledger = rt.actor_builder().name("ledger").spawn(|| 100u64)?;
    let me = ledger.clone();
    let audit = ledger.call(move |balance: &mut u64| {
        let total = me.call(|b: &mut u64| *b).block_get()?;
        Ok::<_, Error>(total + *balance)
    });
    match audit.block_get()? {
        Err(deadlock) => println!("{deadlock}\n"),
        Ok(total) => println!("no deadlock? {total}"),
    }
    Ok(())
}

/// The same mistake under the default `Warn`: one report, and the wait goes
/// on (it would hang forever); the snapshot finds the call it waits for,
/// and cancelling that call ends the wait.
fn a_deadlock_under_warn() -> Result<(), Box<dyn std::error::Error>> {
    println!("== 3. the same under AntiPatterns::Warn: logged once, the wait goes on\n");
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .init();
    let rt = Runtime::new()?;
    let ledger = rt.actor_builder().name("ledger").spawn(|| 100u64)?;
    let me = ledger.clone();
    let audit = ledger.call(move |balance: &mut u64| {
        let total = me.call(|b: &mut u64| *b).block_get()?;
        Ok::<_, Error>(total + *balance)
    });
    // The call the audit waits behind: queued in the mailbox, behind it.
    let queued = loop {
        let stuck = rt.tasks().iter().find_map(|t| match &t.state {
            TaskState::QueuedInActor { behind, .. } if behind.contains(&audit.id()) => {
                Some(t.task.id())
            }
            _ => None,
        });
        match stuck {
            Some(id) => break id,
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    };
    std::thread::sleep(Duration::from_millis(100));
    println!("\nstill waiting after 100 ms: {}", !audit.is_ready());
    rt.cancel(queued);
    println!(
        "after cancelling {queued}: {:?}",
        audit.block_get()?.map_err(|e| e.to_string())
    );
    Ok(())
}
