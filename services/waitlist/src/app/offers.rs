//! The offer use cases: opening a provider's slots (by its own organization, or by matching's capacity
//! event, whose slots are taken in matching before they are offered) and answering an offer (a decline
//! passes the slot on; an acceptance creates the referral, then places the entry).

use chrono::TimeDelta;
use continuum_auth::{Caller, OnBehalfOf};
use continuum_vocab::ids::ProviderId;

use super::{Answered, App, OfferAnswer, OpenSlots, OpenedSlots, access};
use crate::domain::{self, Offer};
use crate::error::{Error, Result};
use crate::peers::matching::{self, Take};

impl App {
    /// Opens `cmd.slots` slots of a provider of the caller's own organization: each goes as an offer to the
    /// next eligible waiting entry, under the provider's lock. A capacity event (`event_id`) may only come
    /// from a Continuum service and makes its offers once. The caller sees the offers to its own waiting
    /// clients; other organizations' are only counted.
    pub async fn open_slots(&self, caller: &Caller, cmd: OpenSlots) -> Result<OpenedSlots> {
        if cmd.event_id.is_some() && !caller.is_service() {
            // Capacity events come from matching; a person opening slots leaves out `event_id`.
            return Err(Error::PermissionDenied(
                "only a Continuum service may send a capacity event".to_owned(),
            ));
        }
        let provider_id = cmd.provider_id;
        // Only the provider's own organization opens its slots (a capacity event acts for it too).
        let owner = self.matching.provider_organization(&OnBehalfOf::caller(caller), provider_id.as_str()).await.map_err(|e| {
            tracing::warn!(peer = "matching", code = ?e.code, "matching could not say whose provider this is");
            e.into_error("matching")
        })?;
        access::opens_slots_of(caller, provider_id.as_str(), owner.as_deref())?;
        let slots = cmd.slots;
        let lock = self.holds.lock_provider(provider_id.as_str()).await;
        let now = self.clock.now();
        let result = match &cmd.event_id {
            Some(event_id) => self.open_event_slots(caller, &provider_id, event_id, slots).await,
            None => self.store.open_slots(provider_id.as_str(), slots, now).await,
        };
        self.holds.unlock(lock).await;
        let offers = result?;
        let mut with_org = Vec::with_capacity(offers.len());
        for o in offers {
            self.holds.record(&o, now).await;
            let org = self.store.get_entry(&o.entry_id).await?.organization_id.into_string();
            with_org.push((o, org));
        }
        // The caller sees the offers to its own waiting clients; other organizations' are only counted.
        let (shown, elsewhere) = access::offers_shown(caller, with_org);
        tracing::info!(provider_id = %provider_id, slots, offers = shown.len() + elsewhere, "slots opened");
        Ok(OpenedSlots { shown, elsewhere })
    }

    /// The offers of matching capacity event `event_id`: under the provider's lock, one slot per waiting
    /// entry (at most `slots`) is taken in matching under its own hold key before it is offered, so a new
    /// intake cannot take it while the offer is pending; the offers and the event are recorded together
    /// (an event makes its offers once). Nobody waiting: no take, no offer (so a slot given back by a chain
    /// that found nobody does not loop).
    async fn open_event_slots(
        &self,
        caller: &Caller,
        provider_id: &ProviderId,
        event_id: &str,
        slots: usize,
    ) -> Result<Vec<Offer>> {
        // The slots are taken for the organization the event acts for: the provider's.
        let who = OnBehalfOf::caller(caller);
        let now = self.clock.now();
        if self.store.event_seen(event_id).await? {
            return Ok(Vec::new());
        }
        let want = slots.min(self.store.eligible_count(provider_id, now).await?);
        let mut keys = Vec::with_capacity(want);
        for n in 0..want {
            let key = matching::slot_key(event_id, n);
            match self.matching.take(&who, provider_id.as_str(), &key).await {
                Take::Taken => keys.push(key),
                Take::NoCapacity => break,
                Take::Unavailable(e) if keys.is_empty() => return Err(e.into_error("matching")),
                Take::Unavailable(_) => break,
            }
        }
        if keys.is_empty() {
            self.store
                .event_without_offers(&caller.organization_id, provider_id.as_str(), event_id, now)
                .await?;
            return Ok(Vec::new());
        }
        // A replica that handled the same event first made the offers with the same slot keys.
        Ok(self
            .store
            .open_event_slots(&caller.organization_id, provider_id.as_str(), event_id, &keys, now)
            .await?
            .unwrap_or_default())
    }

    /// Answers an offer made to one of the caller's organization's entries. A decline frees the slot for
    /// the next eligible entry at once; an acceptance (of a pending offer whose hold has not ended) creates
    /// the referral in the referral service first, outside any transaction, then places the entry.
    pub async fn respond_to_offer(&self, caller: &Caller, answer: OfferAnswer) -> Result<Answered> {
        // Checked before anything changes: another organization's offer is "not found".
        let (offer, entry) = self.visible_offer(caller, &answer.offer_id).await?;

        if !answer.accept {
            let now = self.clock.now();
            let freed = self.store.decline(&answer.offer_id, now).await?;
            self.holds.pass_on([&freed.offer], &freed.next_offer, now).await;
            tracing::info!(
                offer_id = %freed.offer.id,
                entry_id = %freed.entry.id,
                next_offer_id = freed.next_offer.as_ref().map(|n| n.id.as_str()).unwrap_or(""),
                "offer declined"
            );
            return Ok(Answered {
                offer: freed.offer,
                entry: self.view(freed.entry).await?,
                next_offer: freed.next_offer,
            });
        }

        let now = self.clock.now();
        domain::answerable(&offer, now)?;
        let scheduled_at = answer.appointment_at.unwrap_or_else(|| {
            now.checked_add_signed(TimeDelta::days(domain::DEFAULT_APPOINTMENT_AFTER_DAYS))
                .unwrap_or(now)
        });
        // No transaction is open across this call; if it fails nothing here has changed.
        let referral_id = self
            .referral
            .create_for_offer(&offer, &entry, scheduled_at, caller.audit_user())
            .await?;
        let (offer, entry) = self.store.accept(&offer.id, &referral_id, scheduled_at, self.clock.now()).await.inspect_err(|_| {
            // The referral exists but the offer could not be accepted (it expired or was answered meanwhile):
            // a coordinator must cancel the referral.
            tracing::warn!(offer_id = %offer.id, referral_id = %referral_id, "referral created for an offer that could not be accepted");
        })?;
        self.holds.release(offer.id.as_str()).await;
        tracing::info!(offer_id = %offer.id, entry_id = %entry.id, referral_id = %referral_id, "offer accepted; entry placed");
        Ok(Answered { offer, entry: self.view(entry).await?, next_offer: None })
    }
}
