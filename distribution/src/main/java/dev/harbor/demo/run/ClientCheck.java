package dev.harbor.demo.run;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The client side of the zero-loss check: what the simulated clients saw (acknowledged, refused,
 * unanswered, answered twice) against the rows the database holds. Used by the demo's report and by
 * {@code harbor demo-clients}. Immutable once built; built after every client's thread has ended.
 */
final class ClientCheck {
    final long acked;
    final long stored;
    final long refused;
    final long lost;
    final long storedNotAcked;
    final long unanswered;
    final long answeredTwice;
    final int sessions;
    final long requests;
    private final List<DemoReport.Check> checks = new ArrayList<>();

    /**
     * @param clients every client of the run, probes included, their threads ended
     * @param rows the stored {@code (stream, seq)} pairs: a session's lines under its id, its summary as seq 0
     */
    ClientCheck(List<DemoClient> clients, Map<String, Set<Long>> rows) {
        long ack = 0;
        long lostLines = 0;
        long extra = 0;
        long ref = 0;
        long una = 0;
        long twice = 0;
        long sent = 0;
        int sess = 0;
        int unsaved = 0;
        List<String> failures = new ArrayList<>();
        Set<String> known = new HashSet<>();
        for (DemoClient c : clients) {
            ref += c.refused;
            una += c.unanswered;
            twice += c.answeredTwice;
            sent += c.sent;
            if (c.failure != null && failures.size() < 5 && (c.unanswered > 0 || c.answeredTwice > 0 || c.session == null)) {
                failures.add("client " + c.session + ": " + c.failure);
            }
            if (c.session == null) {
                continue;
            }
            sess++;
            known.add(c.session);
            Set<Long> stored = rows.getOrDefault(c.session, Set.of());
            ack += c.acked.size();
            for (long id : c.acked) {
                if (!stored.contains(id)) {
                    lostLines++;
                }
            }
            Set<Long> ackedSet = new HashSet<>(c.acked);
            for (long seq : stored) {
                if (seq != 0 && !ackedSet.contains(seq)) {
                    extra++;
                }
            }
            if (!c.isProbe() && !stored.contains(0L)) {
                unsaved++;
            }
        }
        long storedLines = 0;
        for (var e : rows.entrySet()) {
            long n = e.getValue().stream().filter(s -> s != 0).count();
            storedLines += n;
            if (!known.contains(e.getKey())) {
                extra += n;
            }
        }
        this.acked = ack;
        this.stored = storedLines;
        this.refused = ref;
        this.lost = lostLines;
        this.storedNotAcked = extra;
        this.unanswered = una;
        this.answeredTwice = twice;
        this.sessions = sess;
        this.requests = sent;

        checks.add(new DemoReport.Check("acknowledged writes = rows in the database", lostLines == 0 && extra == 0,
                ack + " acknowledged, " + storedLines + " stored; " + lostLines + " acknowledged but missing, " + extra
                        + " stored but not acknowledged"));
        checks.add(new DemoReport.Check("every client request answered exactly once", una == 0 && twice == 0 && failures.isEmpty(),
                sent + " requests from " + sess + " sessions: " + ack + " ok, " + ref + " refused with an error, " + una
                        + " unanswered, " + twice + " answered twice" + (failures.isEmpty() ? "" : "; " + failures)));
        checks.add(new DemoReport.Check("every session saved its state on close", unsaved == 0,
                (sess - unsaved) + " of " + sess + " sessions' summaries stored" + (unsaved == 0 ? "" : " (" + unsaved + " missing)")));
    }

    /** The three checks, in the order printed: acknowledged = stored, answered once, sessions saved. */
    List<DemoReport.Check> checks() {
        return List.copyOf(checks);
    }
}
