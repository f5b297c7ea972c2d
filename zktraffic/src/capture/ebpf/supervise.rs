//! Keeps live capture attached: when the interface goes away, comes back, or loses our
//! programs (see `watch.rs` for how that is noticed), detach what is left, say so once (log,
//! [`LiveCapture::health`], [`AttachmentStats`]) and attach again when the interface is there.

use super::{AttachmentStats, LiveCapture, LiveCaptureError, system, watch};

impl LiveCapture {
    /// Checks (about once a second) that the interface is still the one attached to and that
    /// our links still hold it; detaches what lost its interface and attaches again when an
    /// interface of that name is there. Logs each change of state once.
    pub(super) fn supervise(&mut self) {
        let Some(w) = &mut self.watch else { return };
        let iface = self.iface.clone().unwrap_or_default();
        let back = match w.check(std::time::Instant::now()) {
            watch::Change::None => return,
            watch::Change::Lost { reason, now } => {
                w.stats.interface_lost += 1;
                tracing::error!(
                    "{reason}: live capture stopped; it resumes when an interface named {iface} exists again"
                );
                w.problem = Some(format!("{reason}; waiting for it to return"));
                now
            }
            watch::Change::Detached => {
                w.stats.programs_detached += 1;
                tracing::error!(
                    "the zktraffic programs were detached from {iface} by someone else; attaching again"
                );
                w.problem = Some(format!("the programs were detached from {iface}"));
                w.index_now()
            }
            watch::Change::Back(idx) => Some(idx),
        };
        w.attached = None;
        w.stats.ifindex = 0;
        self.detach_all();
        if let Some(idx) = back {
            self.reattach(&iface, idx);
        }
    }

    fn reattach(&mut self, iface: &str, idx: u32) {
        let action = format!("attaching again to {iface}");
        let netns = self.watch.as_mut().and_then(|w| w.netns.take());
        let res = system::in_netns(netns.as_ref(), || self.attach_all(iface, &action));
        let ids = self.program_ids();
        let Some(w) = &mut self.watch else { return };
        w.netns = netns;
        match res.map_err(LiveCaptureError::Io).and_then(|r| r) {
            Ok(()) => {
                // The index now: the interface may have changed again while attaching.
                let idx = w.index_now().unwrap_or(idx);
                w.attached = Some(idx);
                w.stats.ifindex = idx;
                w.stats.reattached += 1;
                w.link_fds = watch::link_fds_of(&ids);
                w.problem = None;
                tracing::warn!("{iface} is back (ifindex {idx}): live capture attached again");
            }
            Err(e) => {
                w.stats.reattach_failures += 1;
                // Older kernels attach through netlink, which `--keep-caps none` gave up.
                let hint = if system::errno_of(&e) == Some(libc::EPERM) {
                    " (this kernel needs CAP_BPF and CAP_NET_ADMIN to attach, which the process \
                     gave up: restart it, or run it with --keep-caps reattach)"
                } else {
                    ""
                };
                let problem = format!("{iface} is back but attaching to it failed: {e}{hint}");
                if w.problem.as_deref() != Some(problem.as_str()) {
                    tracing::error!("{problem} (retrying every second)");
                }
                w.problem = Some(problem);
                self.detach_all();
            }
        }
    }

    /// `Err(reason)` while nothing is captured because the interface went away (or attaching
    /// to it again failed); `Ok` while attached.
    pub fn health(&self) -> Result<(), String> {
        match self.watch.as_ref().and_then(|w| w.problem.clone()) {
            Some(p) => Err(p),
            None => Ok(()),
        }
    }

    /// What happened to the attachment since start (losses, re-attachments).
    pub fn attachment_stats(&self) -> AttachmentStats {
        self.watch.as_ref().map(|w| w.stats).unwrap_or_default()
    }
}
