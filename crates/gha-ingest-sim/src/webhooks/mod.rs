//! GitHub webhooks: once `SimHandle::set_webhook` names a receiver, every state change the
//! simulator makes to a run attempt (`workflow_run`: requested → in_progress → completed) or a
//! job (`workflow_job`: waiting/queued → in_progress → completed) is delivered as GitHub
//! delivers it, signed, in the order the changes happened on the simulated clock, with
//! injectable faults, and recorded for GitHub's deliveries API (`routes::hooks`).
//!
//! States are computed from plans and the clock, so changes are found by looking
//! (`schedule`): after every `advance`, `create_run` and `rerun`, and on a real-time clock every
//! 100 ms of real time. A look renders each change as it was at its instant (`payload`),
//! signs it (`request`), rolls the faults (`faults`), reserves its delivery id and queues it;
//! background lanes POST it (`deliver`) and record the outcome (`record`, `stats`).
//!
//! Lock order: scheduler → world → apps. The receiver and the delivery book are leaves: held
//! alone, or last (the API holds the world while answering the deliveries routes).

pub(crate) mod deliver;
pub(crate) mod faults;
mod handle;
pub(crate) mod payload;
pub(crate) mod record;
mod request;
pub(crate) mod schedule;
mod stats;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use crate::clock::{lock, to_datetime, Millis};
use crate::config::WebhookSettings;
use crate::state::Shared;
use crate::webhooks::faults::FaultDice;
use crate::webhooks::payload::{render_event, Event, InstallationRef};
use crate::webhooks::record::{DeliveryBook, Missing, Recorded, TIMED_OUT};
use crate::webhooks::request::{headers, new_guid, resigned, signature_256, HookTarget};
use crate::webhooks::schedule::Watches;

pub use faults::WebhookFaults;
pub use record::{InjectedFaults, WebhookDelivery};
pub use stats::WebhookStats;

/// "Payloads are capped at 25 MB. If an event generates a larger payload, GitHub will not
/// deliver a payload for that webhook event."
const MAX_PAYLOAD_BYTES: usize = 25 * 1024 * 1024;

/// How often a real-time clock is looked at for changes (real time).
const REAL_TIME_LOOK_INTERVAL: Duration = Duration::from_millis(100);

/// Where deliveries go and the secret they are signed with.
#[derive(Clone)]
struct Receiver {
    url: String,
    secret: String,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Receiver")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What a look needs besides the world: held for the whole look, so deliveries are queued (and
/// get their ids) in the order their changes happened.
#[derive(Debug)]
struct Scheduler {
    /// Whether a receiver is set; watches are kept only then.
    is_on: bool,
    watches: Watches,
    dice: FaultDice,
    guids: StdRng,
}

/// The webhook state shared by the API, the handle and the delivery lanes.
#[derive(Debug)]
pub(crate) struct WebhookHub {
    scheduler: Mutex<Scheduler>,
    receiver: Mutex<Option<Receiver>>,
    pub book: Mutex<DeliveryBook>,
    timeout: Duration,
    lanes: Vec<UnboundedSender<Recorded>>,
    lane_queues: Mutex<Vec<UnboundedReceiver<Recorded>>>,
}

/// Why a redelivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedeliveryRefusal {
    Missing(Missing),
    /// `clear_webhook` since: there is nowhere to deliver to.
    NoReceiver,
}

impl WebhookHub {
    pub(crate) fn new(settings: &WebhookSettings, seed: u64) -> Self {
        let (lanes, lane_queues) = (0..settings.max_concurrent.max(1))
            .map(|_| mpsc::unbounded_channel())
            .unzip();
        Self {
            scheduler: Mutex::new(Scheduler {
                is_on: false,
                watches: Watches::default(),
                dice: FaultDice::default(),
                // Its own stream, so GUIDs do not move when the world's generation changes.
                guids: StdRng::seed_from_u64(seed ^ 0x5EB_400C),
            }),
            receiver: Mutex::new(None),
            book: Mutex::new(DeliveryBook::new(settings)),
            timeout: settings.timeout,
            lanes,
            lane_queues: Mutex::new(lane_queues),
        }
    }

    /// The lanes' queues, for `deliver::spawn` (empty after the first call).
    pub(crate) fn take_lane_queues(&self) -> Vec<UnboundedReceiver<Recorded>> {
        std::mem::take(&mut *lock(&self.lane_queues))
    }

    /// Queues a delivery on its run's lane. Counted as pending by the caller.
    fn send(&self, book: &mut DeliveryBook, pending: Recorded) {
        let lane_count = u64::try_from(self.lanes.len()).unwrap_or(1).max(1);
        let lane = usize::try_from(pending.run_id % lane_count).unwrap_or(0);
        book.stats.pending += 1;
        if let Err(unsent) = self.lanes[lane].send(pending) {
            // The lanes are gone: the simulator is shutting down.
            let mut unsent = unsent.0;
            unsent.delivery.status = "failed to connect".to_string();
            book.record(unsent);
        }
    }
}

/// Points deliveries at `url`. Turning webhooks on reports what happens from now on; changing
/// the receiver while on keeps watching where it was.
pub(crate) fn set_receiver(shared: &Shared, url: &str, secret: &str) {
    let hub = &shared.webhooks;
    let mut scheduler = lock(&hub.scheduler);
    if !scheduler.is_on {
        let now_ms = shared.clock.now_ms();
        scheduler.watches.catch_up(&lock(&shared.world), now_ms);
        scheduler.is_on = true;
    }
    *lock(&hub.receiver) = Some(Receiver {
        url: url.to_string(),
        secret: secret.to_string(),
    });
}

/// Stops delivering; changes until the next `set_receiver` are never reported.
pub(crate) fn clear_receiver(shared: &Shared) {
    let hub = &shared.webhooks;
    let mut scheduler = lock(&hub.scheduler);
    scheduler.is_on = false;
    scheduler.watches.clear();
    *lock(&hub.receiver) = None;
}

pub(crate) fn set_faults(shared: &Shared, faults: WebhookFaults) {
    lock(&shared.webhooks.scheduler).dice = FaultDice::new(faults);
}

/// Watches a new attempt from its first state, then looks: its `requested` goes out now.
pub(crate) fn watch_new_attempt(shared: &Shared, run_id: u64, attempt_number: u32) {
    {
        let mut scheduler = lock(&shared.webhooks.scheduler);
        if !scheduler.is_on {
            return;
        }
        scheduler.watches.watch(run_id, attempt_number);
    }
    look(shared);
}

/// Finds the changes since the previous look and queues their deliveries, in order.
pub(crate) fn look(shared: &Shared) {
    let hub = &shared.webhooks;
    let mut scheduler = lock(&hub.scheduler);
    if !scheduler.is_on {
        return;
    }
    let now_ms = shared.clock.now_ms();
    let (events, startup_failures) = {
        let world = lock(&shared.world);
        let found = scheduler.watches.look(&world, now_ms);
        if found.changes.is_empty() && found.startup_failures == 0 {
            return;
        }
        let apps = lock(&shared.apps);
        let installation_of =
            |full_name: &str| InstallationRef::of(apps.installation_of_repo(full_name));
        let events: Vec<Event> = found
            .changes
            .iter()
            .filter_map(|change| render_event(&world, installation_of, change))
            .collect();
        (events, found.startup_failures)
    };
    let Some(receiver) = lock(&hub.receiver).clone() else {
        return;
    };
    let mut book = lock(&hub.book);
    book.stats.startup_failures_unsent += startup_failures;
    for event in events {
        queue_event(hub, &mut scheduler, &mut book, &receiver, event, now_ms);
    }
}

/// Signs one event, applies its faults and queues it (or records it dropped).
fn queue_event(
    hub: &WebhookHub,
    scheduler: &mut Scheduler,
    book: &mut DeliveryBook,
    receiver: &Receiver,
    event: Event,
    now_ms: Millis,
) {
    let body = Bytes::from(serde_json::to_vec(&event.payload).unwrap_or_default());
    if body.len() > MAX_PAYLOAD_BYTES {
        book.stats.oversized_unsent += 1;
        return;
    }
    let guid = new_guid(&mut scheduler.guids);
    let roll = scheduler.dice.roll();
    let target = match event.installation {
        Some(installation) => HookTarget::App(installation.app_id),
        None => HookTarget::Repository(event.repository_id),
    };
    let is_wrong_signature = roll.wrong_signature && !roll.drop;
    let signature = if is_wrong_signature {
        signature_256(&format!("{}-previous", receiver.secret), &body)
    } else {
        signature_256(&receiver.secret, &body)
    };
    let mut delivery = WebhookDelivery {
        id: book.reserve_id(),
        request_headers: headers(event.name, &guid, target, signature),
        guid,
        event: event.name.to_string(),
        action: Some(event.action.to_string()),
        installation_id: event.installation.map(|installation| installation.id),
        repository_id: Some(event.repository_id),
        delivered_at: to_datetime(now_ms),
        duration: Duration::ZERO,
        status: "pending".to_string(),
        status_code: 0,
        redelivery: false,
        url: receiver.url.clone(),
        request_body: body,
        response_headers: Vec::new(),
        response_body: None,
        injected: InjectedFaults::default(),
    };
    if roll.drop {
        delivery.injected.dropped = true;
        delivery.status = TIMED_OUT.to_string();
        delivery.duration = hub.timeout;
        book.record(Recorded {
            delivery,
            run_id: event.run_id,
        });
        return;
    }
    delivery.injected.wrong_signature = is_wrong_signature;
    delivery.injected.delay = roll.delay;
    book.stats.wrong_signature += u64::from(is_wrong_signature);
    book.stats.reordered += u64::from(roll.delay.is_some());
    let duplicate = roll.duplicate.then(|| {
        let mut copy = delivery.clone();
        copy.id = book.reserve_id();
        copy.injected.duplicate = true;
        copy.injected.delay = None;
        copy
    });
    hub.send(
        book,
        Recorded {
            delivery,
            run_id: event.run_id,
        },
    );
    if let Some(copy) = duplicate {
        book.stats.duplicated += 1;
        hub.send(
            book,
            Recorded {
                delivery: copy,
                run_id: event.run_id,
            },
        );
    }
}

/// Sends delivery `delivery_id` again: same GUID and body, signed with the current secret, to
/// the current URL, as a new delivery with `redelivery: true`. Never faulted.
pub(crate) fn redeliver(shared: &Shared, delivery_id: u64) -> Result<(), RedeliveryRefusal> {
    let hub = &shared.webhooks;
    let receiver = lock(&hub.receiver)
        .clone()
        .ok_or(RedeliveryRefusal::NoReceiver)?;
    let now_ms = shared.clock.now_ms();
    let mut book = lock(&hub.book);
    let original = book
        .retained(delivery_id, now_ms)
        .map_err(RedeliveryRefusal::Missing)?
        .clone();
    let signature = signature_256(&receiver.secret, &original.delivery.request_body);
    let delivery = WebhookDelivery {
        id: book.reserve_id(),
        request_headers: resigned(&original.delivery.request_headers, &signature),
        delivered_at: to_datetime(now_ms),
        duration: Duration::ZERO,
        status: "pending".to_string(),
        status_code: 0,
        redelivery: true,
        url: receiver.url,
        response_headers: Vec::new(),
        response_body: None,
        injected: InjectedFaults::default(),
        ..original.delivery
    };
    book.stats.redelivered += 1;
    hub.send(
        &mut book,
        Recorded {
            delivery,
            run_id: original.run_id,
        },
    );
    Ok(())
}

/// On a real-time clock, looks for changes as time flows; a manual clock only moves in
/// `advance`, which looks by itself.
pub(crate) fn spawn_real_time_looks(shared: &Arc<Shared>) -> JoinHandle<()> {
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(REAL_TIME_LOOK_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            look(&shared);
        }
    })
}
