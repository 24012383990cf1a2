package emberwatch.difftest;

import org.apache.flink.api.common.ExecutionConfig;
import org.apache.flink.api.common.state.AggregatingState;
import org.apache.flink.api.common.state.AggregatingStateDescriptor;
import org.apache.flink.api.common.state.KeyedStateStore;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReducingState;
import org.apache.flink.api.common.state.ReducingStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.cep.nfa.NFA;
import org.apache.flink.cep.nfa.NFAState;
import org.apache.flink.cep.nfa.aftermatch.AfterMatchSkipStrategy;
import org.apache.flink.cep.nfa.aftermatch.SkipToFirstStrategy;
import org.apache.flink.cep.nfa.aftermatch.SkipToLastStrategy;
import org.apache.flink.cep.nfa.compiler.NFACompiler;
import org.apache.flink.cep.nfa.sharedbuffer.SharedBuffer;
import org.apache.flink.cep.nfa.sharedbuffer.SharedBufferAccessor;
import org.apache.flink.cep.pattern.Pattern;
import org.apache.flink.cep.pattern.WithinType;
import org.apache.flink.cep.pattern.conditions.IterativeCondition;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Runs conformance cases (one JSON object per stdin line) through Flink's own CEP NFA and prints one
 * JSON result per line: the matches and timed-out partial matches (sorted event ids) or the exception
 * that rejected the pattern. The NFA is driven as Flink's CepOperator drives it in event time: before
 * each event, time advances to its timestamp (collecting matches released by time and timeouts), then
 * the event is processed; at the end time advances to {@code advance_to} when given.
 */
public final class FlinkNfaDriver {

    private static final ObjectMapper JSON = new ObjectMapper();

    private FlinkNfaDriver() {}

    public static void main(String[] args) throws Exception {
        BufferedReader in =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, false, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            if (line.trim().isEmpty()) {
                continue;
            }
            JsonNode spec = JSON.readTree(line);
            ObjectNode result;
            try {
                result = runCase(spec);
            } catch (Throwable t) { // a driver or case-format bug: report it for this case, go on
                result = JSON.createObjectNode();
                result.put("id", spec.path("id").asText());
                result.set("error", describe(t, "driver"));
            }
            out.println(JSON.writeValueAsString(result));
            out.flush();
        }
    }

    // ---------------------------------------------------------------- running a case

    static ObjectNode runCase(JsonNode spec) throws Exception {
        ObjectNode result = JSON.createObjectNode();
        result.put("id", spec.path("id").asText());
        AfterMatchSkipStrategy skip;
        Pattern<Event, ?> pattern;
        try {
            skip = buildSkip(spec.get("skip"));
            pattern = buildPattern(spec.get("pattern"), skip);
        } catch (Exception e) {
            result.set("error", describe(e, "build"));
            return result;
        }
        NFA<Event> nfa;
        try {
            nfa = NFACompiler.compileFactory(pattern, true).createNFA();
        } catch (Exception e) {
            result.set("error", describe(e, "compile"));
            return result;
        }
        List<List<Integer>> matches = new ArrayList<>();
        List<List<Integer>> timeouts = new ArrayList<>();
        SharedBuffer<Event> buffer =
                new SharedBuffer<>(
                        new MemoryStateStore(),
                        TypeInformation.of(Event.class).createSerializer(new ExecutionConfig()));
        try {
            NFAState state = nfa.createInitialNFAState();
            for (JsonNode raw : spec.get("events")) {
                long ts = raw.get("ts").asLong();
                advance(nfa, buffer, state, ts, skip, matches, timeouts);
                try (SharedBufferAccessor<Event> accessor = buffer.getAccessor()) {
                    Collection<Map<String, List<Event>>> found =
                            nfa.process(accessor, state, makeEvent(raw), ts, skip, () -> 0L);
                    for (Map<String, List<Event>> m : found) {
                        matches.add(ids(m));
                    }
                }
            }
            if (spec.hasNonNull("advance_to")) {
                advance(
                        nfa, buffer, state, spec.get("advance_to").asLong(), skip, matches, timeouts);
            }
        } catch (Exception e) {
            result.set("error", describe(e, "run"));
            return result;
        } finally {
            buffer.releaseCacheStatisticsTimer();
        }
        result.set("matches", toJson(matches));
        result.set("timeouts", toJson(timeouts));
        return result;
    }

    private static void advance(
            NFA<Event> nfa,
            SharedBuffer<Event> buffer,
            NFAState state,
            long ts,
            AfterMatchSkipStrategy skip,
            List<List<Integer>> matches,
            List<List<Integer>> timeouts)
            throws Exception {
        try (SharedBufferAccessor<Event> accessor = buffer.getAccessor()) {
            Tuple2<
                            Collection<Map<String, List<Event>>>,
                            Collection<Tuple2<Map<String, List<Event>>, Long>>>
                    released = nfa.advanceTime(accessor, state, ts, skip);
            for (Map<String, List<Event>> m : released.f0) {
                matches.add(ids(m));
            }
            for (Tuple2<Map<String, List<Event>>, Long> t : released.f1) {
                timeouts.add(ids(t.f0));
            }
        }
    }

    private static List<Integer> ids(Map<String, List<Event>> match) {
        List<Integer> ids = new ArrayList<>();
        for (List<Event> events : match.values()) {
            for (Event e : events) {
                ids.add(e.id);
            }
        }
        Collections.sort(ids);
        return ids;
    }

    private static ArrayNode toJson(List<List<Integer>> lists) {
        ArrayNode array = JSON.createArrayNode();
        for (List<Integer> ids : lists) {
            ArrayNode inner = array.addArray();
            for (int id : ids) {
                inner.add(id);
            }
        }
        return array;
    }

    private static ObjectNode describe(Throwable t, String stage) {
        ObjectNode error = JSON.createObjectNode();
        error.put("stage", stage);
        error.put("class", t.getClass().getName());
        error.put("message", String.valueOf(t.getMessage()));
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        if (root != t) {
            error.put("cause", root.getClass().getName() + ": " + root.getMessage());
        }
        return error;
    }

    // ---------------------------------------------------------------- building the pattern

    static AfterMatchSkipStrategy buildSkip(JsonNode spec) {
        String strategy = spec.get("strategy").asText();
        boolean throwOnMiss = spec.path("throw_on_miss").asBoolean(false);
        switch (strategy) {
            case "no_skip":
                return AfterMatchSkipStrategy.noSkip();
            case "skip_to_next":
                return AfterMatchSkipStrategy.skipToNext();
            case "skip_past_last_event":
                return AfterMatchSkipStrategy.skipPastLastEvent();
            case "skip_to_first":
                SkipToFirstStrategy first = AfterMatchSkipStrategy.skipToFirst(spec.get("name").asText());
                return throwOnMiss ? first.throwExceptionOnMiss() : first;
            case "skip_to_last":
                SkipToLastStrategy last = AfterMatchSkipStrategy.skipToLast(spec.get("name").asText());
                return throwOnMiss ? last.throwExceptionOnMiss() : last;
            default:
                throw new IllegalArgumentException("unknown skip strategy " + strategy);
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static Pattern<Event, ?> buildPattern(JsonNode ops, AfterMatchSkipStrategy skip) {
        Pattern p = null;
        for (JsonNode op : ops) {
            String name = op.get("op").asText();
            switch (name) {
                case "begin":
                    p = skip == null
                            ? Pattern.<Event>begin(op.get("name").asText())
                            : Pattern.<Event>begin(op.get("name").asText(), skip);
                    break;
                case "begin_group":
                    Pattern group = buildPattern(op.get("pattern"), null);
                    p = skip == null ? Pattern.begin(group) : Pattern.begin(group, skip);
                    break;
                case "next_group":
                    p = p.next(buildPattern(op.get("pattern"), null));
                    break;
                case "followed_by_group":
                    p = p.followedBy(buildPattern(op.get("pattern"), null));
                    break;
                case "followed_by_any_group":
                    p = p.followedByAny(buildPattern(op.get("pattern"), null));
                    break;
                case "next":
                    p = p.next(op.get("name").asText());
                    break;
                case "followed_by":
                    p = p.followedBy(op.get("name").asText());
                    break;
                case "followed_by_any":
                    p = p.followedByAny(op.get("name").asText());
                    break;
                case "not_next":
                    p = p.notNext(op.get("name").asText());
                    break;
                case "not_followed_by":
                    p = p.notFollowedBy(op.get("name").asText());
                    break;
                case "where":
                    p = p.where(new SpecCondition(parseCond(op.get("cond"))));
                    break;
                case "or_where":
                    p = p.or(new SpecCondition(parseCond(op.get("cond"))));
                    break;
                case "until":
                    p = p.until(new SpecCondition(parseCond(op.get("cond"))));
                    break;
                case "subtype":
                    p = p.subtype("SubEvent".equals(op.get("type").asText()) ? SubEvent.class : Event.class);
                    break;
                case "times":
                    int from = op.get("from").asInt();
                    int to = op.get("to").asInt();
                    p = from == to ? p.times(from) : p.times(from, to);
                    break;
                case "times_or_more":
                    p = p.timesOrMore(op.get("n").asInt());
                    break;
                case "within":
                    Duration window = Duration.ofMillis(op.get("ms").asLong());
                    p = "previous".equals(op.path("type").asText())
                            ? p.within(window, WithinType.PREVIOUS_AND_CURRENT)
                            : p.within(window);
                    break;
                case "one_or_more":
                    p = p.oneOrMore();
                    break;
                case "optional":
                    p = p.optional();
                    break;
                case "greedy":
                    p = p.greedy();
                    break;
                case "consecutive":
                    p = p.consecutive();
                    break;
                case "allow_combinations":
                    p = p.allowCombinations();
                    break;
                default:
                    throw new IllegalArgumentException("unknown builder call " + name);
            }
        }
        return p;
    }

    // ---------------------------------------------------------------- events

    static Event makeEvent(JsonNode raw) {
        Event e = "SubEvent".equals(raw.get("type").asText()) ? new SubEvent() : new Event();
        e.id = raw.get("id").asInt();
        e.name = raw.get("name").asText();
        e.price = raw.get("price").asDouble();
        if (e instanceof SubEvent) {
            ((SubEvent) e).volume = raw.get("volume").asDouble();
        }
        return e;
    }

    /** The scenarios' event: id, name, price. */
    public static class Event implements Serializable {
        private static final long serialVersionUID = 1L;
        public int id;
        public String name;
        public double price;

        public Event() {}

        @Override
        public String toString() {
            return "Event(" + id + ", " + name + ", " + price + ")";
        }
    }

    /** A subclass with an extra field, for {@code subtype}. */
    public static class SubEvent extends Event {
        private static final long serialVersionUID = 1L;
        public double volume;

        public SubEvent() {}
    }

    static Object field(Event e, String name) {
        switch (name) {
            case "id":
                return (double) e.id;
            case "name":
                return e.name;
            case "price":
                return e.price;
            case "volume":
                if (e instanceof SubEvent) {
                    return ((SubEvent) e).volume;
                }
                throw new IllegalArgumentException("Event has no field volume");
            default:
                throw new IllegalArgumentException("unknown field " + name);
        }
    }

    // ---------------------------------------------------------------- conditions

    /** A condition tree node; serializable because Flink's Pattern checks conditions are. */
    interface Cond extends Serializable {
        boolean test(Event e, IterativeCondition.Context<Event> ctx) throws Exception;
    }

    /** The Flink condition wrapping a parsed condition tree. */
    static final class SpecCondition extends IterativeCondition<Event> {
        private static final long serialVersionUID = 1L;
        private final Cond cond;

        SpecCondition(Cond cond) {
            this.cond = cond;
        }

        @Override
        public boolean filter(Event value, Context<Event> ctx) throws Exception {
            return cond.test(value, ctx);
        }
    }

    static Cond parseCond(JsonNode spec) {
        if (spec.has("and") || spec.has("or")) {
            boolean all = spec.has("and");
            List<Cond> parts = new ArrayList<>();
            for (JsonNode s : spec.get(all ? "and" : "or")) {
                parts.add(parseCond(s));
            }
            return (e, ctx) -> {
                for (Cond c : parts) {
                    if (c.test(e, ctx) != all) {
                        return !all;
                    }
                }
                return all;
            };
        }
        if (spec.has("not")) {
            Cond inner = parseCond(spec.get("not"));
            return (e, ctx) -> !inner.test(e, ctx);
        }
        if (spec.has("true")) {
            return (e, ctx) -> true;
        }
        if (spec.has("iter")) {
            return parseIterative(spec);
        }
        String fieldName = spec.get("field").asText();
        String op = spec.get("op").asText();
        JsonNode value = spec.get("value");
        if (value.isTextual()) {
            String text = value.asText();
            return (e, ctx) -> compareText(String.valueOf(field(e, fieldName)), op, text);
        }
        double number = value.asDouble();
        return (e, ctx) -> compare(((Number) field(e, fieldName)).doubleValue(), op, number);
    }

    static Cond parseIterative(JsonNode spec) {
        String kind = spec.get("iter").asText();
        String pattern = spec.get("pattern").asText();
        if ("sum".equals(kind) || "count".equals(kind)) {
            String op = spec.get("op").asText();
            double value = spec.get("value").asDouble();
            boolean includeCurrent = spec.path("include_current").asBoolean(false);
            String fieldName = spec.path("field").asText("price");
            boolean sum = "sum".equals(kind);
            return (e, ctx) -> {
                double total = 0;
                for (Event p : ctx.getEventsForPattern(pattern)) {
                    total += sum ? ((Number) field(p, fieldName)).doubleValue() : 1;
                }
                if (includeCurrent) {
                    total += sum ? ((Number) field(e, fieldName)).doubleValue() : 1;
                }
                return compare(total, op, value);
            };
        }
        if ("any".equals(kind)) {
            JsonNode rel = spec.get("cond_rel");
            String fieldName = rel.get("field").asText();
            String op = rel.get("op").asText();
            String other = rel.get("other_field").asText();
            return (e, ctx) -> {
                for (Event p : ctx.getEventsForPattern(pattern)) {
                    if (compare(
                            ((Number) field(e, fieldName)).doubleValue(),
                            op,
                            ((Number) field(p, other)).doubleValue())) {
                        return true;
                    }
                }
                return false;
            };
        }
        throw new IllegalArgumentException("unknown iterative condition " + kind);
    }

    static boolean compare(double a, String op, double b) {
        switch (op) {
            case "eq":
                return a == b;
            case "ne":
                return a != b;
            case "lt":
                return a < b;
            case "le":
                return a <= b;
            case "gt":
                return a > b;
            case "ge":
                return a >= b;
            default:
                throw new IllegalArgumentException("unknown numeric comparison " + op);
        }
    }

    static boolean compareText(String a, String op, String b) {
        switch (op) {
            case "eq":
                return a.equals(b);
            case "ne":
                return !a.equals(b);
            case "startswith":
                return a.startsWith(b);
            case "contains":
                return a.contains(b);
            case "lt":
                return a.compareTo(b) < 0;
            case "le":
                return a.compareTo(b) <= 0;
            case "gt":
                return a.compareTo(b) > 0;
            case "ge":
                return a.compareTo(b) >= 0;
            default:
                throw new IllegalArgumentException("unknown text comparison " + op);
        }
    }

    // ---------------------------------------------------------------- in-memory keyed state

    /**
     * The keyed state the SharedBuffer keeps its events and nodes in: plain Java maps for one key,
     * as a heap state backend would hold them (no serialization, which does not change matching).
     */
    static final class MemoryStateStore implements KeyedStateStore {

        @Override
        public <T> ValueState<T> getState(ValueStateDescriptor<T> descriptor) {
            return new ValueState<T>() {
                private T value;

                @Override
                public T value() {
                    return value;
                }

                @Override
                public void update(T newValue) {
                    value = newValue;
                }

                @Override
                public void clear() {
                    value = null;
                }
            };
        }

        @Override
        public <UK, UV> MapState<UK, UV> getMapState(MapStateDescriptor<UK, UV> descriptor) {
            return new MemoryMapState<>();
        }

        @Override
        public <T> ListState<T> getListState(ListStateDescriptor<T> descriptor) {
            throw new UnsupportedOperationException("the NFA uses value and map state only");
        }

        @Override
        public <T> ReducingState<T> getReducingState(ReducingStateDescriptor<T> descriptor) {
            throw new UnsupportedOperationException("the NFA uses value and map state only");
        }

        @Override
        public <IN, ACC, OUT> AggregatingState<IN, OUT> getAggregatingState(
                AggregatingStateDescriptor<IN, ACC, OUT> descriptor) {
            throw new UnsupportedOperationException("the NFA uses value and map state only");
        }
    }

    /** Map state over a HashMap. */
    static final class MemoryMapState<UK, UV> implements MapState<UK, UV> {
        private final Map<UK, UV> values = new HashMap<>();

        @Override
        public UV get(UK key) {
            return values.get(key);
        }

        @Override
        public void put(UK key, UV value) {
            values.put(key, value);
        }

        @Override
        public void putAll(Map<UK, UV> map) {
            values.putAll(map);
        }

        @Override
        public void remove(UK key) {
            values.remove(key);
        }

        @Override
        public boolean contains(UK key) {
            return values.containsKey(key);
        }

        @Override
        public Iterable<Map.Entry<UK, UV>> entries() {
            return values.entrySet();
        }

        @Override
        public Iterable<UK> keys() {
            return values.keySet();
        }

        @Override
        public Iterable<UV> values() {
            return values.values();
        }

        @Override
        public Iterator<Map.Entry<UK, UV>> iterator() {
            return values.entrySet().iterator();
        }

        @Override
        public boolean isEmpty() {
            return values.isEmpty();
        }

        @Override
        public void clear() {
            values.clear();
        }
    }
}
