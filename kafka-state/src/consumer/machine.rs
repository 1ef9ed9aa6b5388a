//! The consumer as a sub-machine of the client: the contract of
//! `crate::machine`, delegating to the consumer's own steps.

use std::time::Instant;

use super::ConsumerState;
use crate::machine::{Ctx, SubMachine};
use crate::metadata::MetadataState;
use crate::router::{Inbound, RequestId};

impl SubMachine for ConsumerState {
    fn poll_requests(&mut self, ctx: &mut Ctx<'_>) {
        // A client that only produces polls its consumer at every pump
        // round: with nothing assigned, looked up or in flight there is
        // nothing to finish or ask for.
        if self.is_idle() {
            return;
        }
        // Finished lookups are reported (and resets applied) before new
        // requests go, so a reset position is what the next fetch uses.
        self.finish_jobs(ctx.now, ctx.events);
        ConsumerState::poll_requests(self, ctx.now, ctx.metadata, ctx.requests, ctx.api_timeout);
    }

    fn handle_response(&mut self, ctx: &mut Ctx<'_>, inbound: Inbound) {
        ConsumerState::handle_response(self, ctx.now, inbound, ctx.metadata, ctx.events);
    }

    fn poll_timeout(&self, now: Instant, metadata: &MetadataState) -> Option<Instant> {
        ConsumerState::poll_timeout(self, now, &metadata.cache)
    }

    fn withdraw(&mut self, id: RequestId, metadata: &MetadataState) -> bool {
        if !self.is_stale(id, &metadata.cache) {
            return false;
        }
        self.handle_cancelled(id);
        true
    }
}
