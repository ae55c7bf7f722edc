package dev.harbor.cli;

import dev.harbor.admin.ExitSubscriber;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ServiceInfo;
import io.grpc.Status;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code harbor watch-exits}: prints the services alive on a node, then its exit events. Without
 * {@code --follow} it ends once it has printed the retained backlog; with it, it follows the live
 * events through disconnects and node restarts until interrupted.
 */
@Command(name = "watch-exits", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, description = {
        "Prints the services alive on a node, then one line per exit event: seq, handle, names, node, reason, time, detail.",
        "Without --follow it stops once it has caught up with the node; with --follow it keeps following through"
                + " disconnects (resuming after the last event it printed) until interrupted (Ctrl-C)."})
final class WatchExitsCommand extends NodeClientCommand {
    private static final String EXIT_ROW = "%-8s %-21s %-5s %-12s %-24s %-20s %s%n";

    @Option(names = "--from", paramLabel = "SEQ", defaultValue = "0",
            description = "Print the exit events after this seq (default 0: every event the node still retains).")
    long from;

    @Option(names = "--incarnation", paramLabel = "N", defaultValue = "0",
            description = "The incarnation --from was counted in (as the header line printed it): if the node's process"
                    + " has restarted since, print its new life from the first event instead. Default 0: --from is of the current life.")
    long incarnation;

    @Option(names = "--follow", description = "Keep following live exit events, reconnecting after disconnects.")
    boolean follow;

    @Override
    public Integer call() {
        String target = target();
        if (from < 0) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--from: expected a seq of 0 or more, got " + from);
        }
        Printer printer = new Printer(out());
        ExitSubscriber subscriber = ExitSubscriber.builder(target, printer).fromSeq(from, incarnation).credentials(credentials())
                .start();
        try {
            Status failure = printer.done.get();
            return failure == null ? 0 : failed(failure);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // interrupted (Ctrl-C, or a test ending a --follow): stop following
            return 0;
        } catch (ExecutionException e) {
            throw new IllegalStateException("the exit stream printer failed", e.getCause());
        } finally {
            subscriber.close();
        }
    }

    /**
     * Prints what the subscriber reports, as it reports it (callbacks come one at a time, in order).
     * {@link #done} completes with null when the command should end well (caught up, without
     * --follow), or with the status that ends it badly.
     */
    private final class Printer implements ExitSubscriber.Listener {
        final CompletableFuture<Status> done = new CompletableFuture<>();
        private final PrintWriter out;
        private final List<ServiceInfo> newlyAlive = new ArrayList<>();
        private boolean connectedOnce;
        private boolean exitHeader;

        Printer(PrintWriter out) {
            this.out = out;
        }

        @Override
        public void onIdentity(ExitSubscriber.Identity id) {
            out.println((connectedOnce ? "-- reconnected: " : "") + "node " + Integer.toUnsignedString(id.node()) + " at " + node + ", incarnation "
                    + id.incarnation() + ", newest exit #" + id.lastSeq());
            out.flush();
            connectedOnce = true;
        }

        @Override
        public void onAlive(ServiceInfo service) {
            newlyAlive.add(service);
        }

        private void printAlive() {
            if (newlyAlive.isEmpty()) {
                return;
            }
            out.println("ALIVE (" + newlyAlive.size() + ")");
            TextTable t = new TextTable("HANDLE", "TYPE", "NAMES", "MAILBOX", "HANDLED");
            for (ServiceInfo s : newlyAlive) {
                t.row(s.handle(), s.type(), String.join(",", s.names()), s.mailboxDepth(), s.messagesHandled());
            }
            t.print(out);
            newlyAlive.clear();
        }

        private void exitHeader() {
            printAlive();
            if (!exitHeader) {
                out.println("EXITS");
                out.printf(EXIT_ROW, "SEQ", "HANDLE", "NODE", "REASON", "TIME", "NAMES", "DETAIL");
                exitHeader = true;
            }
        }

        @Override
        public void onExit(ExitEvent e) {
            exitHeader();
            out.printf(EXIT_ROW, e.seq() == 0 ? "-" : Long.toString(e.seq()), e.handle(), e.node(), e.reason(),
                    e.time().truncatedTo(ChronoUnit.MILLIS), e.names().isEmpty() ? "-" : String.join(",", e.names()),
                    e.detail().isEmpty() ? "-" : e.detail());
            out.flush();
        }

        @Override
        public void onGap(ExitSubscriber.Gap gap) {
            exitHeader();
            out.println("-- gap: exit events " + gap.firstMissing() + " to " + gap.lastMissing()
                    + " are no longer retained by the node" + (gap.endedUnseen().isEmpty() ? ""
                    : "; these services ended within them: " + gap.endedUnseen().stream().map(s -> s.handle().toString())
                            .reduce((a, b) -> a + ", " + b).orElse("")));
            out.flush();
        }

        @Override
        public void onCaughtUp(long lastSeq) {
            exitHeader();
            out.println("-- caught up at #" + lastSeq + (follow ? "; following live exits" : ""));
            out.flush();
            if (!follow) {
                done.complete(null);
            }
        }

        @Override
        public void onDisconnected(Status status, Duration retryIn) {
            if (!follow || !connectedOnce) {
                done.complete(status); // without --follow, or never reached: report it and end
                return;
            }
            err().println("harbor: lost the exit stream of " + node + " (" + status.getCode()
                    + (status.getDescription() == null ? "" : ": " + status.getDescription()) + "); reconnecting in "
                    + retryIn.toMillis() + " ms");
            err().flush();
        }

        @Override
        public void onFailed(Status status) {
            done.complete(status);
        }
    }
}
