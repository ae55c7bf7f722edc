package dev.harbor.cli;

import dev.harbor.proto.ListServicesRequest;
import dev.harbor.service.ServiceInfo;
import dev.harbor.wire.Wire;
import java.io.PrintWriter;
import java.util.TreeMap;
import picocli.CommandLine.Command;

/** {@code harbor services}: lists a node's live services. */
@Command(name = "services", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, description = "Lists the services alive on a node: handle, type, names, tags, mailbox depth, messages handled.")
final class ServicesCommand extends NodeClientCommand {
    @Override
    public Integer call() {
        return unary(stub -> stub.listServices(ListServicesRequest.getDefaultInstance()), answer -> {
            PrintWriter out = out();
            out.println("node " + Integer.toUnsignedString(answer.getNode()) + " at " + node + ": " + answer.getServicesCount() + " service(s)");
            TextTable table = new TextTable("HANDLE", "TYPE", "NAMES", "TAGS", "MAILBOX", "HANDLED");
            for (var wire : answer.getServicesList()) {
                ServiceInfo s = Wire.service(wire);
                String tags = new TreeMap<>(s.tags()).entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                        .reduce((a, b) -> a + "," + b).orElse("");
                table.row(s.handle(), s.type(), String.join(",", s.names()), tags, s.mailboxDepth(), s.messagesHandled());
            }
            table.print(out);
            return 0;
        }, TIMEOUT);
    }
}
