// The same API suite on PostgreSQL (Debian's package, started by the test).
import { apiSuite } from "./api/suite.ts";

apiSuite("postgresql");
