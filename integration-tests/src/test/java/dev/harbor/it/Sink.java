package dev.harbor.it;

import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.ServiceContext;
import java.util.HashMap;
import java.util.Map;

/**
 * A service for ordering tests, under a global name: takes sends of "N" (0, 1, 2... per sender) and
 * counts those that arrive out of order; a call of "report" answers "received=R outOfOrder=O".
 */
public final class Sink extends GloballyNamed {
    private final Map<Handle, Long> next = new HashMap<>();
    private long received;
    private long outOfOrder;

    public Sink(String name) {
        super(name);
    }

    @Override
    public Object receive(ServiceContext ctx, Message m) {
        String text = m.payload(String.class);
        if (m.isCall() && text.equals("report")) {
            return "received=" + received + " outOfOrder=" + outOfOrder;
        }
        long n = Long.parseLong(text);
        long expected = next.getOrDefault(m.from(), 0L);
        if (n != expected) {
            outOfOrder++;
        }
        next.put(m.from(), n + 1);
        received++;
        return null;
    }
}
