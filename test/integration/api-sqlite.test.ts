// The API suite on the default database, a SQLite file.
import { apiSuite } from "./api/suite.ts";

apiSuite("sqlite");
