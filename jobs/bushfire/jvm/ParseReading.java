package emberwatch.flink;

import java.io.IOException;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadFeature;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;

/**
 * PARSE_READING(line): one pass of a streaming JSON parser over a raw sensor line, giving the
 * reading's fields and, when the line is not certainly a valid reading, the reason why not.
 *
 * <p>It replaces eight JSON_VALUE calls, each of which parses the whole line again. The verdict is
 * one-sided on purpose: a NULL reason means the line is a valid reading by the event schema
 * (common/readings.py, reading_problem); anything unusual (duplicate fields, unicode escapes,
 * integers beyond 64 bits) gets a reason and goes to Python, which decides exactly.
 *
 * <p>The planner calls it several times per line: for the rowtime column, before the watermark
 * assigner, and again for the fields read after it, all in the same task thread. Each thread's last
 * line and result are kept, so every call after the first costs a string comparison, not a parse.
 */
public final class ParseReading extends ScalarFunction {

    /** Jackson's FastDoubleParser gives the same doubles as Double.parseDouble, several times faster. */
    private static final JsonFactory JSON =
            JsonFactory.builder().enable(StreamReadFeature.USE_FAST_DOUBLE_PARSER).build();

    /** Recent results, one slot per task thread (by thread id); a slot taken by another thread is a miss. */
    private static final Last[] LAST = new Last[64];

    /** A line, the thread that parsed it, and the result (immutable, so sharing the slots is safe). */
    private static final class Last {
        final Thread owner;
        final String line;
        final Reading reading;

        Last(Thread owner, String line, Reading reading) {
            this.owner = owner;
            this.line = line;
            this.reading = reading;
        }
    }

    private static final String ROW_TYPE =
            "ROW<event_id STRING, node STRING, region STRING, ts BIGINT, temperature DOUBLE,"
                    + " infectedBy STRING, lat DOUBLE, lon DOUBLE, reason STRING>";

    /** Fields of one line while it is being read; `reason` is set at the first problem found. */
    private static final class Reading {
        String eventId;
        String node;
        String region;
        Long ts;
        Double temperature;
        String infectedBy;
        boolean hasInfectedBy;
        Double lat;
        Double lon;
        String reason;

        void flag(String why) {
            if (reason == null) {
                reason = why;
            }
        }

        Row toRow() {
            return Row.of(eventId, node, region, ts, temperature, infectedBy, lat, lon, reason);
        }
    }

    public @DataTypeHint(ROW_TYPE) Row eval(String line) {
        if (line == null) {
            Reading reading = new Reading();
            reading.flag("malformed");
            return reading.toRow();
        }
        Thread thread = Thread.currentThread();
        int slot = (int) (thread.getId() & (LAST.length - 1));
        Last last = LAST[slot];
        if (last == null || last.owner != thread || !last.line.equals(line)) {
            last = new Last(thread, line, parse(line));
            LAST[slot] = last;
        }
        return last.reading.toRow();
    }

    /**
     * Lines longer than this many chars may exceed 1 MiB of UTF-8 (the largest Kinesis record): Python
     * measures them exactly (jobs/bushfire/parsing.py, MAX_LINE_BYTES).
     */
    private static final int SURELY_SMALL_CHARS = (1 << 20) / 4;

    private static Reading parse(String line) {
        Reading reading = new Reading();
        if (line.length() > SURELY_SMALL_CHARS) {
            reading.flag("maybe oversized");
            return reading; // not parsed: Python decides, and a huge line is not worth a parse here
        }
        if (line.indexOf('\uFFFD') >= 0) {
            reading.flag("not UTF-8"); // the decoder put U+FFFD where the bytes were not UTF-8
        }
        if (!line.isEmpty() && line.charAt(0) == '\uFEFF') {
            reading.flag("byte-order mark");
        }
        if (line.contains("\\u")) {
            reading.flag("unicode escape"); // Python rejects lone surrogates, Jackson does not
        }
        try (JsonParser parser = JSON.createParser(line)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                reading.flag("malformed");
                return reading;
            }
            readFields(parser, reading);
            if (parser.nextToken() != null) {
                reading.flag("text after the object");
            }
        } catch (IOException | RuntimeException e) {
            reading.flag("malformed");
        }
        checkRequired(reading);
        return reading;
    }

    private static void readFields(JsonParser parser, Reading reading) throws IOException {
        int seen = 0; // a bit per schema field met so far; other fields do not change the verdict
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String name = parser.getCurrentName();
            int field = readField(parser, parser.nextToken(), reading, name);
            if ((seen & field) != 0) {
                reading.flag("duplicate " + name); // the last one wins in Python: let it decide
            }
            seen |= field;
        }
        if (parser.currentToken() != JsonToken.END_OBJECT) {
            reading.flag("malformed");
        }
    }

    /** Reads one field's value into `reading`; returns the field's bit, 0 for a field not in the schema. */
    private static int readField(JsonParser parser, JsonToken value, Reading reading, String name)
            throws IOException {
        switch (name) {
            case "event_id":
                reading.eventId = text(parser, value, reading, name);
                return 1;
            case "node":
                reading.node = text(parser, value, reading, name);
                return 1 << 1;
            case "region":
                reading.region = text(parser, value, reading, name);
                return 1 << 2;
            case "ts":
                reading.ts = integer(parser, value, reading);
                return 1 << 3;
            case "temperature":
                reading.temperature = number(parser, value, reading, name);
                return 1 << 4;
            case "lat":
                reading.lat = number(parser, value, reading, name);
                return 1 << 5;
            case "lon":
                reading.lon = number(parser, value, reading, name);
                return 1 << 6;
            case "infectedBy":
                reading.hasInfectedBy = true;
                reading.infectedBy = value == JsonToken.VALUE_NULL ? null : text(parser, value, reading, name);
                return 1 << 7;
            case "battery":
                if (value != JsonToken.VALUE_NULL) {
                    number(parser, value, reading, name);
                }
                return 1 << 8;
            default:
                parser.skipChildren();
                return 0;
        }
    }

    private static String text(JsonParser parser, JsonToken value, Reading reading, String name)
            throws IOException {
        if (value == JsonToken.VALUE_STRING) {
            return parser.getText();
        }
        reading.flag("invalid " + name);
        parser.skipChildren();
        return null;
    }

    private static Long integer(JsonParser parser, JsonToken value, Reading reading) throws IOException {
        if (value == JsonToken.VALUE_NUMBER_INT && parser.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
            return parser.getLongValue();
        }
        reading.flag("invalid ts");
        parser.skipChildren();
        return null;
    }

    private static Double number(JsonParser parser, JsonToken value, Reading reading, String name)
            throws IOException {
        boolean numeric = value == JsonToken.VALUE_NUMBER_FLOAT
                || (value == JsonToken.VALUE_NUMBER_INT
                        && parser.getNumberType() != JsonParser.NumberType.BIG_INTEGER);
        if (numeric) {
            double number = parser.getDoubleValue();
            if (Double.isFinite(number)) {
                return number;
            }
        }
        reading.flag("invalid " + name);
        parser.skipChildren();
        return null;
    }

    private static void checkRequired(Reading reading) {
        if (reading.eventId == null) {
            reading.flag("missing or invalid event_id");
        } else if (reading.node == null) {
            reading.flag("missing or invalid node");
        } else if (reading.region == null) {
            reading.flag("missing or invalid region");
        } else if (reading.ts == null) {
            reading.flag("missing or invalid ts");
        } else if (reading.temperature == null) {
            reading.flag("missing or invalid temperature");
        } else if (reading.lat == null) {
            reading.flag("missing or invalid lat");
        } else if (reading.lon == null) {
            reading.flag("missing or invalid lon");
        } else if (!reading.hasInfectedBy) {
            reading.flag("missing infectedBy");
        }
    }

    /**
     * Per-shard watermarks for the Kinesis source (FlinkKinesisConsumer.setPeriodicWatermarkAssigner):
     * each shard gets bounded out-of-orderness over its own readings' ts, and the consumer emits the
     * minimum over its shards. A watermark taken after the consumer would follow whichever shard was
     * read furthest, so a backlog (a start from TRIM_HORIZON, a restore) made the other shards' readings
     * late. A line without a ts counts as epoch 0, as the rowtime column does.
     */
    public static final class ShardWatermarks
            extends org.apache.flink.streaming.api.functions.timestamps.BoundedOutOfOrdernessTimestampExtractor<String> {

        public ShardWatermarks(long outOfOrdernessMs) {
            super(org.apache.flink.streaming.api.windowing.time.Time.milliseconds(outOfOrdernessMs));
        }

        @Override
        public long extractTimestamp(String line) {
            Long ts = line == null ? null : parse(line).ts;
            return ts == null ? 0L : ts;
        }
    }
}
