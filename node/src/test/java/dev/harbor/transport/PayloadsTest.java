package dev.harbor.transport;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import dev.harbor.proto.Drain;
import dev.harbor.proto.KillRequest;
import dev.harbor.proto.Record;
import dev.harbor.service.Handle;
import org.junit.jupiter.api.Test;

/** Which message types arrive as themselves: those the modules on the class path declare, and no others. */
class PayloadsTest {
    private static final Handle TO = Handle.of(2, 7);

    @Test
    void theShutdownContractsMessagesAreDeclaredByTheNodeModuleItself() throws Exception {
        Drain drain = Drain.newBuilder().setRunId("test").setTimeoutMs(500).build();
        assertThat(roundTrip(new Payloads(), drain)).isEqualTo(drain);
    }

    @Test
    void anApplicationsMessagesArriveAsAnyWhereItsModuleIsNotOnTheClassPath() throws Exception {
        // The writer's Record is declared by harbor-services, which this module does not depend on.
        Record record = Record.newBuilder().setStream("s").setSeq(1).setBody("b").build();
        Object decoded = roundTrip(new Payloads(), record);
        assertThat(decoded).isInstanceOf(Any.class);
        assertThat(((Any) decoded).unpack(Record.class)).isEqualTo(record);
    }

    @Test
    void aTypeRegisteredByHandArrivesAsItself() throws Exception {
        KillRequest kill = KillRequest.newBuilder().setHandle(dev.harbor.proto.Handle.newBuilder().setNode(3)).build();
        assertThat(roundTrip(new Payloads(), kill)).isInstanceOf(Any.class);
        assertThat(roundTrip(new Payloads().register(KillRequest.getDefaultInstance()), kill)).isEqualTo(kill);
    }

    /** {@code value} sent in a batch and read back by {@code receiver}. */
    static Object roundTrip(Payloads receiver, Object value) throws Exception {
        EnvelopeBatch.Reader r = EnvelopeBatch.reader(new EnvelopeBatch().send(TO, null, value).toByteString());
        assertThat(r.next()).isTrue();
        return r.payload(receiver);
    }
}
