package dev.harbor.cli;

import dev.harbor.proto.KillRequest;
import dev.harbor.service.Handle;
import dev.harbor.wire.Wire;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.TypeConversionException;

/** {@code harbor kill}: ends one service of a node. */
@Command(name = "kill", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, description = "Kills one service of a node (its exit event says KILLED). Exit code 1 if it was not alive.")
final class KillCommand extends NodeClientCommand {
    @Parameters(index = "0", paramLabel = "HANDLE", converter = HandleConverter.class,
            description = "The service's handle, as 'harbor services' prints it: ':' and 20 hex digits, like :00010000000000000042.")
    Handle handle;

    @Override
    public Integer call() {
        return unary(stub -> stub.kill(KillRequest.newBuilder().setHandle(Wire.handle(handle)).build()), answer -> {
            if (answer.getKilled()) {
                out().println("killed " + handle);
                out().flush();
                return 0;
            }
            err().println("harbor: service " + handle + " was not alive on the node at " + node
                    + " (it has exited already, or never existed); nothing was killed");
            err().flush();
            return 1;
        }, TIMEOUT);
    }

    /** Reads a handle; a malformed one is a usage error that says what a handle looks like. */
    static final class HandleConverter implements ITypeConverter<Handle> {
        @Override
        public Handle convert(String text) {
            try {
                return Handle.parse(text.strip());
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
